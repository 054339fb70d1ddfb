//! A second chance for flow collections whose continuation lines are less indented than the
//! block they sit in, such as a mapping closed at column 1:
//!
//! ```yaml
//!     - debug:
//!         msg: {a: 1,
//!           b: 2
//! }
//! ```
//!
//! PyYAML (and so Ansible) accepts this; saphyr refuses it ("invalid indentation"), as the YAML
//! specification does. Inside a flow collection indentation carries no meaning, so when a file
//! fails to parse, the loader indents such lines just enough and parses again, and positions
//! on those lines are moved back by what was added ([`Reindented::col`]). The scan only has to
//! find where flow collections start and end: it knows quoted scalars, comments and block
//! scalars (whose lines may start with `{`), and nothing else of YAML.

/// The text with flow continuation lines indented, and what was added to each line.
pub(crate) struct Reindented {
    pub(crate) text: String,
    /// Spaces added at the start of each line (index: line - 1).
    pads: Vec<u32>,
}

impl Reindented {
    /// The column in the original text of 1-based `col` on 1-based `line` of the new text.
    pub(crate) fn col(&self, line: u32, col: u32) -> u32 {
        let pad = (line as usize)
            .checked_sub(1)
            .and_then(|i| self.pads.get(i))
            .copied()
            .unwrap_or(0);
        if col > pad {
            col - pad
        } else {
            col
        }
    }
}

/// Where the scan is.
enum State {
    Block,
    /// Inside a flow collection `depth` levels deep, opened on a line whose block content is
    /// indented `indent`.
    Flow {
        depth: usize,
        indent: usize,
    },
    /// Inside a block scalar (`|`, `>`) of a line indented `indent`.
    BlockScalar {
        indent: usize,
    },
}

/// `text` with every line that continues a flow collection indented past the line that opened
/// it; `None` when no line needed it (the parse error is something else).
pub(crate) fn reindent_flow(text: &str) -> Option<Reindented> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut pads = Vec::new();
    let mut state = State::Block;
    let mut changed = false;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let blank = line.trim().is_empty();
        if let State::BlockScalar { indent: owner } = state {
            if blank || indent > owner {
                pads.push(0);
                out.push_str(line);
                continue;
            }
            state = State::Block;
        }
        let pad = match state {
            State::Flow { indent: owner, .. } if !blank && indent <= owner => owner + 1 - indent,
            _ => 0,
        };
        changed |= pad > 0;
        pads.push(pad as u32);
        out.extend(std::iter::repeat_n(' ', pad));
        out.push_str(line);
        state = scan_line(line, content_indent(line), state);
    }
    changed.then_some(Reindented { text: out, pads })
}

/// Where the line's block content starts: after its indentation and any `- ` sequence
/// indicators (`- x: [1,` holds a mapping at column 2, which continuation lines must pass).
fn content_indent(line: &str) -> usize {
    let mut rest = line.trim_start_matches(' ');
    while let Some(after) = rest.strip_prefix("- ") {
        rest = after.trim_start_matches(' ');
    }
    line.len() - rest.len()
}

/// The state after `line` (its block content indented `indent`), starting in `state`.
fn scan_line(line: &str, indent: usize, mut state: State) -> State {
    let chars: Vec<char> = line.trim_end_matches(['\n', '\r']).chars().collect();
    let mut i = 0;
    // Whether the next character starts a value (a quoted scalar or a flow collection may
    // start there).
    let mut at_value_start = true;
    while i < chars.len() {
        let c = chars[i];
        let after_space = i == 0 || chars[i - 1] == ' ' || chars[i - 1] == '\t';
        match c {
            '#' if after_space => break,
            '"' | '\'' if at_value_start => {
                i = skip_quoted(&chars, i);
                at_value_start = false;
                continue;
            }
            '{' | '[' if at_value_start || matches!(state, State::Flow { .. }) => {
                state = match state {
                    State::Flow { depth, indent } => State::Flow {
                        depth: depth + 1,
                        indent,
                    },
                    _ => State::Flow { depth: 1, indent },
                };
                at_value_start = true;
            }
            '}' | ']' => {
                if let State::Flow { depth, indent } = state {
                    state = if depth <= 1 {
                        State::Block
                    } else {
                        State::Flow {
                            depth: depth - 1,
                            indent,
                        }
                    };
                }
                at_value_start = false;
            }
            ',' if matches!(state, State::Flow { .. }) => at_value_start = true,
            ':' | '-' | '?' if chars.get(i + 1).is_none_or(|n| *n == ' ') => {
                at_value_start = true;
            }
            '|' | '>' if at_value_start && matches!(state, State::Block) => {
                return State::BlockScalar { indent };
            }
            ' ' | '\t' => {}
            _ => at_value_start = false,
        }
        i += 1;
    }
    state
}

/// The index after the quoted scalar starting at `start` (or the end of the line: a quoted
/// scalar spanning lines is left to the parser, which will report it if it is wrong).
fn skip_quoted(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote == '"' => i += 2,
            '\'' if quote == '\'' && chars.get(i + 1) == Some(&'\'') => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_mapping_closed_at_column_one_is_indented() {
        let text = "- debug:\n    msg: {a: 1,\n      b: 2\n}\n";
        let r = reindent_flow(text).expect("changed");
        assert_eq!(r.text, "- debug:\n    msg: {a: 1,\n      b: 2\n     }\n");
        assert_eq!(r.col(4, 6), 1);
        assert_eq!(r.col(2, 10), 10);
    }

    #[test]
    fn braces_in_quotes_comments_and_block_scalars_open_nothing() {
        let text = "a: \"{\"\nb: x # {\nc: |\n  {{ x }}\n{d: 1}\n";
        assert!(reindent_flow(text).is_none());
    }
}
