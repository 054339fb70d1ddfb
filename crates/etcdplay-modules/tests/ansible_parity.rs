//! Parity with Ansible: `tests/data/ansible_edits.json` holds lineinfile/blockinfile cases run
//! through ansible-core 2.x (initial content, arguments, resulting content, changed, msg).
//! Each case is replayed through etcdplay's module on a temporary file and must match.

mod common;

use common::Env;
use serde_json::Value;

#[tokio::test]
async fn lineinfile_and_blockinfile_match_recorded_ansible_results() {
    let cases: Vec<Value> = serde_json::from_str(include_str!("data/ansible_edits.json")).unwrap();
    assert!(cases.len() > 20);
    let env = Env::new();
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let path = env.p(&format!("case{i}"));
        std::fs::write(&path, case["initial"].as_str().unwrap()).unwrap();
        let mut args = case["args"].as_object().unwrap().clone();
        args.insert("path".into(), Value::String(path.clone()));
        let r = env
            .run(case["module"].as_str().unwrap(), Value::Object(args))
            .await;
        let content = std::fs::read_to_string(&path).unwrap();
        let want_content = case["content"].as_str().unwrap();
        let want_msg = case["msg"].as_str().unwrap_or("");
        if content != want_content
            || r.changed != case["changed"].as_bool().unwrap()
            || r.msg.as_deref().unwrap_or("") != want_msg
        {
            failures.push(format!(
                "case {i} {}: got {:?} changed={} msg={:?}; ansible {:?} changed={} msg={:?}",
                case["args"], content, r.changed, r.msg, want_content, case["changed"], want_msg
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
