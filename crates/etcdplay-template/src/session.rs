//! [`Session`]: state shared by one top-level templating call and all the nested templating it
//! triggers (variables that refer to variables, `hostvars` of other hosts, `lookup('template')`).
//!
//! It holds the stack of variables being resolved, which is how cycles (`a: "{{ b }}"`,
//! `b: "{{ a }}"`) are reported instead of recursing until the stack overflows.

use std::sync::{Arc, Mutex};

use minijinja::{Error, ErrorKind};

use crate::error::CycleError;
use crate::templar::TemplarInner;

/// Nested variable templating deeper than this is refused even without a cycle.
const MAX_NESTING: usize = 64;

#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) templar: Arc<TemplarInner>,
    resolving: Mutex<Vec<String>>,
}

impl Session {
    pub(crate) fn new(templar: Arc<TemplarInner>) -> Arc<Self> {
        Arc::new(Session {
            templar,
            resolving: Mutex::new(Vec::new()),
        })
    }

    /// Marks `key` as being resolved; fails if it already is (a cycle) or nesting is too deep.
    pub(crate) fn enter(&self, key: &str) -> Result<(), Error> {
        let mut stack = self.resolving.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = stack.iter().position(|k| k == key) {
            let mut chain: Vec<&str> = stack[pos..].iter().map(String::as_str).collect();
            chain.push(key);
            let chain = chain.join(" -> ");
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("recursive loop detected in template string: {chain}"),
            )
            .with_source(CycleError { chain }));
        }
        if stack.len() >= MAX_NESTING {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "variables nested more than {MAX_NESTING} levels deep while resolving {key}"
                ),
            ));
        }
        stack.push(key.to_string());
        Ok(())
    }

    /// Ends the resolution started by the matching [`enter`](Self::enter).
    pub(crate) fn leave(&self) {
        let mut stack = self.resolving.lock().unwrap_or_else(|e| e.into_inner());
        stack.pop();
    }
}
