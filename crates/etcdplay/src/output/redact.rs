//! The output layer's redaction of vault secrets: every event, warning and header passes
//! through [`Redacting`] before any reporter (stream, progress, ad-hoc, `--output json`) sees
//! it, so a decrypted value is shown as `********` wherever it would appear (see
//! `etcdplay_vault::redact` for what is remembered and the length threshold).

use std::sync::Arc;

use etcdplay_engine::{AsyncEvent, HostEvent, Reporter, Stats, TaskKindLabel};
use etcdplay_vault::redact::{is_active, redact};
use serde_json::Value;

/// Wraps the run's reporters.
pub(crate) struct Redacting(pub(crate) Arc<dyn Reporter>);

/// `text` without vault secrets.
pub(crate) fn text(text: &str) -> String {
    redact(text).into_owned()
}

/// A JSON value with every string (and key) redacted.
pub(crate) fn json(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(text(s)),
        Value::Array(items) => Value::Array(items.iter().map(json).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (text(k), json(v))).collect()),
        other => other.clone(),
    }
}

fn event(e: &HostEvent) -> HostEvent {
    HostEvent {
        host: e.host.clone(),
        status: e.status,
        delegated_to: e.delegated_to.clone(),
        item_label: e.item_label.as_deref().map(text),
        msg: e.msg.as_deref().map(text),
        result: json(&e.result),
        diff: e.diff.as_deref().map(text),
        debug_output: e.debug_output.as_ref().map(json),
        duration: e.duration,
    }
}

impl Reporter for Redacting {
    fn play_start(&self, name: &str, hosts: &[String]) {
        self.0.play_start(&text(name), hosts);
    }

    fn task_start(&self, kind: TaskKindLabel, header: &str, hosts: &[String]) {
        self.0.task_start(kind, &text(header), hosts);
    }

    fn host_event(&self, e: &HostEvent) {
        if is_active() {
            self.0.host_event(&event(e));
        } else {
            self.0.host_event(e);
        }
    }

    fn included(&self, what: &str, hosts: &[String], item_label: Option<&str>) {
        self.0
            .included(&text(what), hosts, item_label.map(text).as_deref());
    }

    fn retrying(&self, header: &str, host: &str, retries_left: u32, result: &Value) {
        self.0
            .retrying(&text(header), host, retries_left, &json(result));
    }

    fn async_event(&self, event: &AsyncEvent) {
        self.0.async_event(event);
    }

    fn task_end(&self) {
        self.0.task_end();
    }

    fn warning(&self, message: &str) {
        self.0.warning(&text(message));
    }

    fn recap(&self, stats: &Stats) {
        self.0.recap(stats);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::stream::StreamReporter;
    use etcdplay_engine::HostStatus;

    /// A `debug: var=` of a vaulted value, a `-v` result and a diff: Ansible prints the value
    /// in each (`ok: [h] => {"token": "s3cret-value-42"}`); etcdplay prints the mark.
    #[test]
    fn every_field_an_event_shows_is_redacted() {
        etcdplay_vault::redact::remember("s3cret-value-42");
        let stream = Arc::new(StreamReporter::new(Vec::new(), 1));
        let redacting = Redacting(stream.clone());
        let mut e = HostEvent::new("h", HostStatus::Changed);
        e.debug_output = Some(serde_json::json!({"token": "s3cret-value-42"}));
        e.diff = Some("+password=s3cret-value-42\n".into());
        e.item_label = Some("s3cret-value-42".into());
        redacting.host_event(&e);
        redacting.warning("w s3cret-value-42");
        drop(redacting);
        let out = String::from_utf8(
            Arc::try_unwrap(stream)
                .ok()
                .expect("one owner")
                .into_inner(),
        )
        .unwrap();
        assert!(!out.contains("s3cret"), "{out}");
        assert!(out.contains("+password=********"), "{out}");
        assert!(out.contains("\"token\": \"********\""), "{out}");
        assert!(out.contains("[WARNING]: w ********"), "{out}");
    }

    /// Ansible prints `FAILED - RETRYING: [h]: t (2 retries left).` before each retry and
    /// `included: f.yml for h` for a dynamic include: the wrapper passes them on.
    #[test]
    fn retries_and_includes_reach_the_stream() {
        let stream = Arc::new(StreamReporter::new(Vec::new(), 0));
        let redacting = Redacting(stream.clone());
        redacting.retrying("t", "h", 2, &serde_json::json!({}));
        redacting.included("f.yml", &["h".to_string()], None);
        drop(redacting);
        let out = String::from_utf8(
            Arc::try_unwrap(stream)
                .ok()
                .expect("one owner")
                .into_inner(),
        )
        .unwrap();
        assert!(
            out.contains("FAILED - RETRYING: [h]: t (2 retries left).\n"),
            "{out}"
        );
        assert!(out.contains("included: f.yml for h\n"), "{out}");
    }
}
