//! Typed access to a module's arguments after aliases are resolved. Values arrive from YAML and
//! templating, so a boolean may be `yes`, `"True"` or `1`, and a number may be a string; these
//! helpers accept what Ansible accepts and name the argument in every error.

use serde_json::{Map, Value};

use crate::mode::ModeSpec;
use crate::registry::module_arg_spec;
use crate::spec::{find_arg, validate_args};
use crate::ModuleError;

/// A module's arguments, keyed by canonical argument name.
#[derive(Debug, Clone)]
pub(crate) struct Args {
    pub(crate) module: &'static str,
    map: Map<String, Value>,
}

/// Ansible's boolean conversion (YAML 1.1 words, numbers 0/1).
pub(crate) fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "on" | "1" | "true" | "y" | "t" => Some(true),
            "no" | "off" | "0" | "false" | "n" | "f" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

impl Args {
    /// Validates `raw` against the spec of `module` (canonical) and resolves aliases.
    pub(crate) fn parse(
        module: &'static str,
        raw: &Map<String, Value>,
    ) -> Result<Args, ModuleError> {
        if let Some(first) = validate_args(module, raw).into_iter().next() {
            return Err(first);
        }
        let spec = module_arg_spec(module);
        let mut map = Map::new();
        for (k, v) in raw {
            let name = find_arg(spec, k)
                .map(|s| s.name.to_string())
                .unwrap_or_else(|| k.clone());
            if !v.is_null() {
                map.insert(name, v.clone());
            }
        }
        Ok(Args { module, map })
    }

    /// Replaces an argument's value (a path with `~` expanded on the host).
    pub(crate) fn set(&mut self, name: &str, value: String) {
        self.map.insert(name.to_string(), Value::String(value));
    }

    pub(crate) fn set_list(&mut self, name: &str, items: Vec<String>) {
        let items = items.into_iter().map(Value::String).collect();
        self.map.insert(name.to_string(), Value::Array(items));
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub(crate) fn raw(&self, name: &str) -> Option<&Value> {
        self.map.get(name)
    }

    /// A string argument; numbers and booleans are turned into their text.
    pub(crate) fn str(&self, name: &str) -> Option<String> {
        match self.map.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
            Value::Number(n) => Some(n.to_string()),
            // Ansible's `str`/`path` arguments turn a mapping or list into Python's text of it.
            other => Some(etcdplay_source::python_str_json(other)),
        }
    }

    pub(crate) fn req_str(&self, name: &str) -> Result<String, ModuleError> {
        self.str(name)
            .ok_or_else(|| ModuleError::missing(self.module, name))
    }

    pub(crate) fn bool(&self, name: &str, default: bool) -> Result<bool, ModuleError> {
        match self.map.get(name) {
            None => Ok(default),
            Some(v) => to_bool(v).ok_or_else(|| {
                ModuleError::bad(self.module, name, format!("expected a boolean, got {v}"))
            }),
        }
    }

    /// A boolean that may be absent (`enabled:` of systemd: absent means "leave alone").
    pub(crate) fn opt_bool(&self, name: &str) -> Result<Option<bool>, ModuleError> {
        if self.has(name) {
            self.bool(name, false).map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, ModuleError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                ModuleError::bad(self.module, name, format!("expected an integer, got {n}"))
            }),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| {
                ModuleError::bad(self.module, name, format!("expected an integer, got '{s}'"))
            }),
            Some(v) => Err(ModuleError::bad(
                self.module,
                name,
                format!("expected an integer, got {v}"),
            )),
        }
    }

    /// A list argument; a string is split on commas as Ansible does.
    /// A number argument (`type='float'` in Ansible): integers, decimals, numeric strings.
    pub(crate) fn float(&self, name: &str) -> Result<Option<f64>, ModuleError> {
        let parsed = match self.map.get(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
            Some(_) => None,
        };
        parsed
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| ModuleError::bad(self.module, name, "expected a number"))
    }

    pub(crate) fn list(&self, name: &str) -> Result<Option<Vec<String>>, ModuleError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(
                items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
            )),
            Some(Value::String(s)) => Ok(Some(
                s.split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty())
                    .collect(),
            )),
            Some(Value::Number(n)) => Ok(Some(vec![n.to_string()])),
            Some(v) => Err(ModuleError::bad(
                self.module,
                name,
                format!("expected a list, got {v}"),
            )),
        }
    }

    pub(crate) fn mode(&self, name: &str) -> Result<Option<ModeSpec>, ModuleError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(v) => ModeSpec::from_value(v)
                .map(Some)
                .map_err(|m| ModuleError::bad(self.module, name, m)),
        }
    }

    /// `state:` checked against the values the module supports.
    pub(crate) fn choice(
        &self,
        name: &str,
        allowed: &[&str],
        default: &str,
    ) -> Result<String, ModuleError> {
        let value = self.str(name).unwrap_or_else(|| default.to_string());
        if allowed.contains(&value.as_str()) {
            Ok(value)
        } else {
            Err(ModuleError::bad(
                self.module,
                name,
                format!("value '{value}' is not one of: {}", allowed.join(", ")),
            ))
        }
    }
}
