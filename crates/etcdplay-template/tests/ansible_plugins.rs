//! Filters, tests, functions and lookups added for real roles (issue #16), each compared with
//! what ansible-core 2.19.14 printed for the same expression. The expected values were
//! observed with `ansible-playbook -i localhost, -c local` running `debug: msg="{{ expr }}"`
//! (ansible-core 2.19.14 with passlib for `password_hash`, community.general for
//! `json_query` and ansible.utils for the IP filters), one task per expression.

use etcdplay_template::{Templar, Vars};
use serde_json::{json, Value as Json};

fn vars(value: Json) -> Vars {
    Vars::new(value.as_object().cloned().unwrap_or_default())
}

fn templar() -> Templar {
    Templar::new(vec![
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
    ])
}

/// Renders `{{ expr }}` natively with `v`.
fn eval(expr: &str, v: &Vars) -> Json {
    templar()
        .render_str(&format!("{{{{ {expr} }}}}"), "test", v)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

/// Renders `{{ expr }}` as text.
fn text(expr: &str) -> String {
    templar()
        .render_string(&format!("{{{{ {expr} }}}}"), "test", &vars(json!({})))
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn error(expr: &str) -> String {
    templar()
        .render_str(&format!("{{{{ {expr} }}}}"), "t.yml:3:5", &vars(json!({})))
        .map(|v| panic!("{expr} should fail, gave {v}"))
        .unwrap_or_else(|e| e.to_string())
}

fn e(expr: &str) -> Json {
    eval(expr, &vars(json!({"l1": [1, 2, 3, 4], "l2": [3, 4, 5]})))
}

#[test]
fn set_filters_like_ansible() {
    // Ansible: [1, 2, 3, 4, 5] / [1, 2] / [3, 4] / [1, 2, 5]
    assert_eq!(e("l1 | union(l2)"), json!([1, 2, 3, 4, 5]));
    assert_eq!(e("l1 | difference(l2)"), json!([1, 2]));
    assert_eq!(e("l1 | intersect(l2)"), json!([3, 4]));
    assert_eq!(e("l1 | symmetric_difference(l2)"), json!([1, 2, 5]));
}

#[test]
fn itertools_filters_like_ansible() {
    // Ansible: [[1, "a"], [1, "b"], [2, "a"], [2, "b"]]
    assert_eq!(
        e("[1,2] | product(['a','b']) | list"),
        json!([[1, "a"], [1, "b"], [2, "a"], [2, "b"]])
    );
    assert_eq!(
        e("[1,2,3] | permutations | list"),
        json!([
            [1, 2, 3],
            [1, 3, 2],
            [2, 1, 3],
            [2, 3, 1],
            [3, 1, 2],
            [3, 2, 1]
        ])
    );
    assert_eq!(
        e("[1,2,3] | permutations(2) | list"),
        json!([[1, 2], [1, 3], [2, 1], [2, 3], [3, 1], [3, 2]])
    );
    assert_eq!(
        e("[1,2,3,4] | combinations(2) | list"),
        json!([[1, 2], [1, 3], [1, 4], [2, 3], [2, 4], [3, 4]])
    );
    // Bounded: 12! permutations would exhaust memory.
    assert!(error("range(12) | permutations | list").contains("more than 100000"));
    assert!(
        error("range(30) | product(range(30), range(30), range(30)) | list").contains("more than")
    );
}

#[test]
fn seeded_random_and_shuffle_equal_ansibles() {
    // Ansible: 98, 81, 60, "d", [6, 1, 2, 3, 4, 5], [5, 1, 6, 4, 2, 3]
    assert_eq!(e("100 | random(seed='abc')"), json!(98));
    assert_eq!(e("100 | random(seed=42)"), json!(81));
    assert_eq!(e("100 | random(start=10, step=5, seed='x')"), json!(60));
    assert_eq!(e("['a','b','c','d'] | random(seed='abc')"), json!("d"));
    assert_eq!(
        e("[1,2,3,4,5,6] | shuffle(seed='abc')"),
        json!([6, 1, 2, 3, 4, 5])
    );
    assert_eq!(
        e("[1,2,3,4,5,6] | shuffle(seed=7)"),
        json!([5, 1, 6, 4, 2, 3])
    );
    let unseeded = e("10 | random").as_i64().unwrap();
    assert!((0..10).contains(&unseeded));
    assert!(error("0 | random").contains("empty range"));
    assert!(error("[] | random").contains("empty sequence"));
    assert!(error("['a'] | random(start=1)").contains("only be used with integer"));
}

#[test]
fn path_filters_like_python() {
    // Ansible (as root): "/root/x"; "/etc/hosts"
    let home = std::env::var("HOME").unwrap();
    assert_eq!(text("'~/x' | expanduser"), format!("{home}/x"));
    assert_eq!(text("'~root' | expanduser"), "/root");
    assert_eq!(text("'~nosuchuser/x' | expanduser"), "~nosuchuser/x");
    assert_eq!(text("'/tmp/../etc/./hosts' | realpath"), "/etc/hosts");
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().canonicalize().unwrap();
    std::os::unix::fs::symlink(real.join("target"), real.join("link")).unwrap();
    assert_eq!(
        text(&format!("'{}/link/../x' | realpath", real.display())),
        format!("{}/x", real.display())
    );
}

#[test]
fn json_query_like_community_general() {
    let v = vars(
        json!({"data": {"a": {"b": [1, 2]}, "items": [{"n": "x", "v": 1}, {"n": "y", "v": 2}]}}),
    );
    // Ansible: 2; ["y"]
    assert_eq!(eval("data | json_query('a.b[1]')", &v), json!(2));
    assert_eq!(
        eval("data | json_query('items[?v > `1`].n')", &v),
        json!(["y"])
    );
    assert!(error("{} | json_query('a[')").contains("JMESPath"));
}

#[test]
fn password_hash_like_passlib() {
    // Ansible (passlib): the default rounds are written out; 5000 is implicit.
    assert_eq!(
        text("'secret' | password_hash('sha512', 'mysalt')"),
        "$6$rounds=656000$mysalt$cDA0t8lm/qt.LT6DzpoHxJ.NwTpx.WTkOPwhseSva8pRixDSH2./ffedCjAMbTX1Uo1QNT7jJPJ6FIzU2i59K/"
    );
    assert_eq!(
        text("'secret' | password_hash('sha256', 'mysalt')"),
        "$5$rounds=535000$mysalt$GnEktJhWXRuwViyPsEWK9s63HYW1GqXFqU5SdKDqol6"
    );
    assert_eq!(
        text("'secret' | password_hash('sha512', 'mysalt', rounds=10000)"),
        "$6$rounds=10000$mysalt$9XTP7570fxVN/uTspSrH6kRPdR4KKGzGz7.TmJjDYGrKSwZuavW/3YaLur8JX6WP75Czcxa.megIO0lKreY0R."
    );
    assert_eq!(
        text("'secret' | password_hash('sha512', 'mysalt', rounds=5000)"),
        "$6$mysalt$UX6P1VKOf6dr0s2pg4pLNvIUB6hLXvP6M5f/Yj9hJgMPdAJ4oArvk5YUD9/XWtk1JOpVwt/JTsczMJr8sFVML1"
    );
    assert_eq!(
        text("'secret' | password_hash('sha256', 'abcdefghijklmnop', rounds=1000)"),
        "$5$rounds=1000$abcdefghijklmnop$FzYoqjtuN.mjYqssIob4upmoKbZEpkdQMtytZuqNN/6"
    );
    let random = text("'secret' | password_hash('sha512', rounds=1000)");
    assert!(random.starts_with("$6$rounds=1000$") && random.len() == 15 + 17 + 86);
    assert!(error("'x' | password_hash('sha512', 'bad salt!')").contains("salt"));
    assert!(error("'x' | password_hash('sha512', 'a', rounds=999999999)").contains("rounds"));
    assert!(error("'x' | password_hash('md5')").contains("not supported"));
}

#[test]
fn to_uuid_and_urlsplit_like_ansible() {
    // Ansible: "ae780c3a-a3ab-53c2-bfb4-098da300b3fe"; with the DNS namespace
    // "cfbff0d1-9375-5685-968c-48ce8b15ae17".
    assert_eq!(
        text("'example.com' | to_uuid"),
        "ae780c3a-a3ab-53c2-bfb4-098da300b3fe"
    );
    assert_eq!(
        text("'example.com' | to_uuid(namespace='6ba7b810-9dad-11d1-80b4-00c04fd430c8')"),
        "cfbff0d1-9375-5685-968c-48ce8b15ae17"
    );
    let url = "'http://user:pw@www.acme.com:9000/dir/index.html?query=term#frag'";
    assert_eq!(
        e(&format!("{url} | urlsplit")),
        json!({"fragment": "frag", "hostname": "www.acme.com", "netloc": "user:pw@www.acme.com:9000",
               "password": "pw", "path": "/dir/index.html", "port": 9000, "query": "query=term",
               "scheme": "http", "username": "user"})
    );
    assert_eq!(
        e(&format!("{url} | urlsplit('hostname')")),
        json!("www.acme.com")
    );
}

#[test]
fn python_regular_expressions() {
    // Ansible: "c", "X", ["a", "b"], "Hello", ["a", "b"]
    assert_eq!(e("'abcabc' | regex_search('(?<=b)c')"), json!("c"));
    assert_eq!(
        e("'abab' | regex_replace('(?P<x>ab)(?P=x)', 'X')"),
        json!("X")
    );
    assert_eq!(
        e("'aa bb cd' | regex_findall('(\\\\w)\\\\1')"),
        json!(["a", "b"])
    );
    assert_eq!(
        e("'Hello' | regex_search('hello', ignorecase=True)"),
        json!("Hello")
    );
    assert_eq!(
        e("'a\\nb' | regex_findall('^\\\\w$', multiline=True)"),
        json!(["a", "b"])
    );
    // Ansible: "True True True"
    assert_eq!(
        text("'ab12' is regex('(?<=b)1') ~ ' ' ~ ('abab' is regex('(ab)\\\\1')) ~ ' ' ~ ('Ab' is regex('^ab', ignorecase=True))"),
        "True True True"
    );
    // Catastrophic backtracking is an error, not a hang.
    let err = error("('a' * 40 ~ 'b') | regex_search('^(?=x?)(a|a)*\\\\1c')");
    assert!(err.contains("could not be evaluated"), "{err}");
}

#[test]
fn ip_filters_like_ansible_utils() {
    let cases = [
        ("'192.168.1.5' | ipaddr", json!("192.168.1.5")),
        ("'x.y' | ipaddr", json!(false)),
        ("'192.168.1.5/24' | ipaddr('address')", json!("192.168.1.5")),
        ("'192.168.1.5/24' | ipaddr('network')", json!("192.168.1.0")),
        (
            "'192.168.1.5/24' | ipaddr('netmask')",
            json!("255.255.255.0"),
        ),
        ("'192.168.1.5/24' | ipaddr('prefix')", json!(24)),
        ("'192.168.1.5/24' | ipaddr('host')", json!("192.168.1.5/24")),
        ("'192.168.1.0/24' | ipaddr('host')", json!(null)),
        (
            "'192.168.1.5/24' | ipaddr('host/prefix')",
            json!("192.168.1.5/24"),
        ),
        ("'192.168.1.0/24' | ipaddr('host/prefix')", json!(false)),
        (
            "'192.168.1.5/24' | ipaddr('network/prefix')",
            json!("192.168.1.0/24"),
        ),
        (
            "'192.168.1.5/24' | ipaddr('broadcast')",
            json!("192.168.1.255"),
        ),
        ("'192.168.1.5/24' | ipaddr('size')", json!(256)),
        ("'192.168.1.5/24' | ipaddr('public')", json!(null)),
        (
            "'192.168.1.5/24' | ipaddr('private')",
            json!("192.168.1.5/24"),
        ),
        ("'8.8.8.8' | ipaddr('public')", json!("8.8.8.8")),
        (
            "['192.168.1.5', 'junk', '::1', '10.0.0.0/8', 5] | ipaddr",
            json!(["192.168.1.5", "::1", "10.0.0.0/8", "0.0.0.5"]),
        ),
        (
            "['192.168.1.5', 'junk', '::1', '10.0.0.0/8'] | ipv4",
            json!(["192.168.1.5", "10.0.0.0/8"]),
        ),
        (
            "['192.168.1.5', 'junk', '::1', '10.0.0.0/8'] | ipv6",
            json!(["::1"]),
        ),
        ("'2001:db8::1/64' | ipaddr('network')", json!("2001:db8::")),
        ("'2001:db8::1/64' | ipv6('address')", json!("2001:db8::1")),
        ("'2001:db8::1/64' | ipv4", json!(false)),
        (
            "'2001:db8::1' | ansible.utils.ipwrap",
            json!("[2001:db8::1]"),
        ),
        (
            "['2001:db8::1', '1.2.3.4', 'host'] | ipwrap",
            json!(["[2001:db8::1]", "1.2.3.4", "host"]),
        ),
        ("'192.168.1.5' | ipaddr('prefix')", json!(32)),
        ("'192.168.1.5' | ipaddr('address')", json!("192.168.1.5")),
        (
            "'10.1.1.1/255.255.0.0' | ipaddr('network/prefix')",
            json!("10.1.0.0/16"),
        ),
        ("'' | ipaddr", json!(false)),
        ("'192.168.1.5' is ansible.utils.ipv4", json!(true)),
        ("'192.168.1.5/24' is ipv4", json!(false)),
        ("'::1' is ipv4", json!(false)),
        ("'::1' is ipv6", json!(true)),
    ];
    for (expr, expected) in cases {
        assert_eq!(e(expr), expected, "{expr}");
    }
    assert!(error("'1.2.3.4' | ipaddr('nonsense')").contains("Unknown filter type"));
}

#[test]
fn path_and_collection_tests_like_ansible() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "A").unwrap();
    std::os::unix::fs::symlink("a.txt", dir.path().join("link.txt")).unwrap();
    let d = dir.path().display();
    // Ansible: "True True True True True False True"
    assert_eq!(
        text(&format!(
            "('/etc' is directory) ~ ('/etc/hosts' is file) ~ ('/etc' is exists) ~ ('{d}/link.txt' is link) ~ ('/etc' is abs) ~ ('etc' is abs) ~ ('/etc/hosts' is same_file('/etc/../etc/hosts'))"
        )),
        "TrueTrueTrueTrueTrueFalseTrue"
    );
    assert_eq!(
        text(&format!("('{d}/a.txt' is is_file) ~ ('{d}/nope' is exists) ~ ('{d}' is is_dir) ~ ('/' is mount)")),
        "TrueFalseTrueTrue"
    );
    // Ansible: "True True True"
    assert_eq!(
        text("([1,2] is contains(1)) ~ ([1] is subset([1,2])) ~ ([1,2] is superset([1]))"),
        "TrueTrueTrue"
    );
}

#[test]
fn now_gives_a_datetime() {
    // Ansible: now(fmt='%Y') is the year as text; now(utc=True).year > 2000 is True.
    let year = text("now(fmt='%Y')");
    assert_eq!(year.len(), 4);
    assert_eq!(e("now(utc=True).year > 2000"), json!(true));
    assert_eq!(text("now(utc=True).strftime('%Y')"), year);
    let printed = text("now()");
    assert_eq!(&printed[4..5], "-");
    assert_eq!(&printed[10..11], " ");
}

#[test]
fn python_percent_formatting_in_expressions() {
    let v = vars(
        json!({"n": 3, "names": ["a", "b"], "d": {"a": "k", "b": 42}, "fmt": "<%s>", "x": "y"}),
    );
    // Ansible: "x", "3 items", "a-b", " 3.14|7   |'q'|%", "k=00042", "[1, 2]", "None",
    // "True and 1.5", 1 (7 % 3), 2 (-7 % 3)
    let cases = [
        ("'%s' % 'x'", json!("x")),
        ("'%d items' % n", json!("3 items")),
        ("'%s-%s' % ('a', 'b')", json!("a-b")),
        (
            "'%5.2f|%-4d|%r|%%' % (3.14159, 7, 'q')",
            json!(" 3.14|7   |'q'|%"),
        ),
        ("'%(a)s=%(b)05d' % {'a': 'k', 'b': 42}", json!("k=00042")),
        ("'%(a)s=%(b)05d' % d", json!("k=00042")),
        ("'%s' % [1, 2]", json!("[1, 2]")),
        ("'%s' % names", json!("['a', 'b']")),
        ("'%s' % none", json!("None")),
        ("'%s and %s' % (true, 1.5)", json!("True and 1.5")),
        ("7 % 3", json!(1)),
        ("-7 % 3", json!(2)),
        ("n % 2", json!(1)),
        ("fmt % x", json!("<y>")),
        // Precedence as Jinja's: `~` binds looser than `%`, filters tighter.
        ("'a' ~ '%s' % x | upper", json!("aY")),
        ("('%s' % x) | upper", json!("Y")),
        ("'%s/%s' % ('%d' % n, x)", json!("3/y")),
        ("['%s' % x, '%d' % 4]", json!(["y", "4"])),
    ];
    for (expr, expected) in cases {
        assert_eq!(eval(expr, &v), expected, "{expr}");
    }
    // In statements and text around the expression, and in template files.
    let t = templar();
    assert_eq!(
        t.render_string("{% set s = '%03d' % n %}[{{ s }}] 100%", "t", &v)
            .unwrap(),
        "[003] 100%"
    );
    assert_eq!(
        t.render_string(
            "{% for i in range(4) if i % 2 == 0 %}{{ '%d,' % i }}{% endfor %}",
            "t",
            &v
        )
        .unwrap(),
        "0,2,"
    );
    // Errors name the place like any other template error.
    let err = error("'%d' % 'x'");
    assert!(
        err.contains("t.yml:3:5") && err.contains("%d format: a real number is required, not str"),
        "{err}"
    );
    assert!(error("'%s %s' % ('a',)").contains("not enough arguments"));
    assert!(error("'%s' % ('a', 'b')").contains("not all arguments converted"));
}

/// Renders `{{ expr }}` with the probe playbook's variables.
fn lk(expr: &str, v: &Vars, t: &Templar) -> Json {
    t.render_str(&format!("{{{{ {expr} }}}}"), "test", v)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

#[test]
fn list_lookups_like_ansible() {
    let t = templar();
    let v = vars(json!({
        "users": [
            {"name": "alice", "authorized": ["k1", "k2"], "mysql": {"hosts": ["h1", "h2"]}},
            {"name": "bob", "authorized": ["k3"], "mysql": {"hosts": []}}
        ],
        "other": 5, "pfx_var": 1,
        "groups": {"all": ["a1", "b1", "b2"], "bs": ["b1", "b2"], "ungrouped": []}
    }));
    let cases = [
        (
            "query('dict', {'a': 1, 'b': 2})",
            json!([{"key": "a", "value": 1}, {"key": "b", "value": 2}]),
        ),
        (
            "query('nested', [1, 2], ['a', 'b'])",
            json!([[1, "a"], [1, "b"], [2, "a"], [2, "b"]]),
        ),
        (
            "query('together', [1, 2, 3], ['a', 'b'])",
            json!([[1, "a"], [2, "b"], [3, null]]),
        ),
        ("query('flattened', [1, [2, [3]]], 4)", json!([1, 2, 3, 4])),
        (
            "query('sequence', 'start=1 end=5 stride=2')",
            json!(["1", "3", "5"]),
        ),
        (
            "query('sequence', '4-8/2:host%02x')",
            json!(["host04", "host06", "host08"]),
        ),
        ("query('sequence', 'count=3')", json!(["1", "2", "3"])),
        (
            "query('sequence', 'start=5 end=1 stride=-2')",
            json!(["5", "3", "1"]),
        ),
        ("query('sequence', '5')", json!(["1", "2", "3", "4", "5"])),
        (
            "query('indexed_items', ['a', 'b'])",
            json!([[0, "a"], [1, "b"]]),
        ),
        ("query('random_choice', 'only')", json!(["only"])),
        ("query('items', [1, [2, [3]]], 4)", json!([1, [2, [3]], 4])),
        ("query('list', [1, [2]], 4)", json!([[1, [2]], 4])),
        ("lookup('vars', 'other')", json!(5)),
        ("lookup('vars', 'nope', default='d')", json!("d")),
        ("lookup('varnames', '^pfx')", json!("pfx_var")),
        ("query('varnames', '^o', '^us')", json!(["other", "users"])),
        (
            "query('inventory_hostnames', 'all')",
            json!(["a1", "b1", "b2"]),
        ),
        ("query('inventory_hostnames', 'all:!bs')", json!(["a1"])),
        ("query('inventory_hostnames', 'b*')", json!(["b1", "b2"])),
        ("lookup('lines', 'printf \"a\\\\nb\\\\n\"')", json!("a,b")),
        (
            "query('lines', 'printf \"a\\\\nb\\\\n\"')",
            json!(["a", "b"]),
        ),
    ];
    for (expr, expected) in cases {
        assert_eq!(lk(expr, &v, &t), expected, "{expr}");
    }
    // Ansible: the element without the iterated key, paired with each sub-item.
    assert_eq!(
        lk("query('subelements', users, 'authorized')", &v, &t),
        json!([
            [{"name": "alice", "mysql": {"hosts": ["h1", "h2"]}}, "k1"],
            [{"name": "alice", "mysql": {"hosts": ["h1", "h2"]}}, "k2"],
            [{"name": "bob", "mysql": {"hosts": []}}, "k3"]
        ])
    );
    assert_eq!(
        lk("query('subelements', users, 'mysql.hosts')", &v, &t),
        json!([
            [{"name": "alice", "authorized": ["k1", "k2"], "mysql": {}}, "h1"],
            [{"name": "alice", "authorized": ["k1", "k2"], "mysql": {}}, "h2"]
        ])
    );
    for (expr, message) in [
        ("query('sequence', 'start=0x0a end=0x0c')", "invalid value"),
        (
            "query('sequence', 'start=1 end=10000000')",
            "more than 100000",
        ),
        (
            "query('sequence', 'end=1 stride=-1 start=3 format=%d%d')",
            "bad formatting",
        ),
        ("query('nosuch', 1)", "lookup plugin 'nosuch' not found"),
        ("query('vars', 'nope')", "No variable named 'nope'"),
        (
            "query('subelements', users, 'nokey')",
            "could not find 'nokey'",
        ),
    ] {
        let err = t
            .render_str(&format!("{{{{ {expr} }}}}"), "t.yml:4:9", &v)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(message) && err.contains("t.yml:4:9"),
            "{expr}: {err}"
        );
    }
}

#[test]
fn file_lookups_like_ansible() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    std::fs::create_dir(base.join("files")).unwrap();
    for (name, text) in [("a.txt", "A"), ("b.txt", "B"), ("c.conf", "C")] {
        std::fs::write(base.join("files").join(name), text).unwrap();
    }
    std::fs::create_dir(base.join("files/sub.txt")).unwrap();
    let t = Templar::new(vec![base.clone()]);
    let v = vars(json!({}));
    let f = |n: &str| json!(base.join("files").join(n).display().to_string());
    // Ansible: files of files/ matching, no directories.
    assert_eq!(
        lk("query('fileglob', '*.txt')", &v, &t),
        json!([f("a.txt"), f("b.txt")])
    );
    assert_eq!(
        lk("query('fileglob', '*.txt', '*.conf')", &v, &t),
        json!([f("a.txt"), f("b.txt"), f("c.conf")])
    );
    // Ansible: a plain name is looked for next to the playbook (not in files/) by lookup();
    // with `paths` it is found; skip=True gives [].
    let err = t
        .render_str(
            "{{ lookup('first_found', ['nope.txt', 'b.txt']) }}",
            "t.yml:2:3",
            &v,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("No file was found when using first_found"),
        "{err}"
    );
    assert_eq!(
        lk(
            "lookup('first_found', {'files': ['x.txt', 'c.conf'], 'paths': ['files']})",
            &v,
            &t
        ),
        f("c.conf")
    );
    assert_eq!(
        lk("query('first_found', 'nope', skip=True)", &v, &t),
        json!([])
    );
    // In a role, the role's task files are searched too (Ansible's search path holds the task
    // file's directory): `include_tasks: "{{ lookup('first_found', files) }}"` in
    // setup_remote_tmp_dir finds its `tasks/default.yml` under ansible-playbook 2.19.14.
    let role = base.join("roles/r");
    std::fs::create_dir_all(role.join("tasks")).unwrap();
    std::fs::write(role.join("tasks/default.yml"), "[]").unwrap();
    let in_role = vars(json!({"role_path": role.display().to_string()}));
    assert_eq!(
        lk(
            "lookup('first_found', ['debian.yml', 'default.yml'])",
            &in_role,
            &t
        ),
        json!(role.join("tasks/default.yml").display().to_string())
    );
    // As a with_first_found of a copy task (subdir files), plain names are found in files/.
    assert_eq!(
        t.loop_items(
            "first_found",
            &json!(["nope.txt", "b.txt", "a.txt"]),
            "files",
            "t",
            &v
        )
        .unwrap(),
        vec![f("b.txt")]
    );
    // Ansible (seed=abc, ascii_letters,digits, 12): "XJDT6w90X6w8", stored 0600; seed=42 with
    // digits and /dev/null: "77410197"; default chars, 20 long, seed=x: "O9iX65WvW9::bS:gx:86".
    let pw = base.join("creds/pw1");
    let expr = format!(
        "lookup('password', '{} length=12 chars=ascii_letters,digits seed=abc')",
        pw.display()
    );
    assert_eq!(lk(&expr, &v, &t), json!("XJDT6w90X6w8"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&pw).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::read_to_string(&pw).unwrap(), "XJDT6w90X6w8\n");
    // A stored password is read back, whatever the seed.
    let again = format!("lookup('password', '{} seed=other')", pw.display());
    assert_eq!(lk(&again, &v, &t), json!("XJDT6w90X6w8"));
    assert_eq!(
        lk(
            "lookup('password', '/dev/null length=8 chars=digits seed=42')",
            &v,
            &t
        ),
        json!("77410197")
    );
    let pw2 = base.join("pw2");
    assert_eq!(
        lk(
            &format!("lookup('password', '{} seed=x')", pw2.display()),
            &v,
            &t
        ),
        json!("O9iX65WvW9::bS:gx:86")
    );
    let err = t
        .render_str(
            "{{ lookup('password', '/dev/null length=100000') }}",
            "t",
            &v,
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("length must be"), "{err}");
}

/// A role laid out as ansible-core 2.19's lookup_template target has it: `templates/hello.txt`
/// includes `world.txt` from the same directory.
fn lookup_template_role(base: &std::path::Path) -> std::path::PathBuf {
    let role = base.join("roles/lookup_template");
    std::fs::create_dir_all(role.join("templates")).unwrap();
    let file = |name: &str, text: &str| std::fs::write(role.join("templates").join(name), text);
    file("hello.txt", "Hello {% include 'world.txt' %}\n").unwrap();
    file("world.txt", "world!").unwrap();
    file("hello_string.txt", "Hello [% my_var %]!\n").unwrap();
    file(
        "none.j2",
        "{# a template with no content will render as `None` #}",
    )
    .unwrap();
    file(
        "managed.j2",
        "{{ ansible_managed }}|{{ extra | default('-') }}",
    )
    .unwrap();
    file("dict.j2", "{\"foo\": \"{{ 'bar' }}\"}").unwrap();
    role
}

// ansible-playbook 2.19.14 on the lookup_template target: `lookup('template', 'hello.txt')`
// is "Hello world!\n" (the include is found in the role's templates/), the
// variable_start_string='[%' form renders [% my_var %], `none.j2` gives None, `dict.j2` is
// not a mapping, `ansible_managed` defaults to "Ansible managed" unless the task sets it, and
// `template_vars` are seen by the template.
#[test]
fn the_template_lookup_searches_includes_and_takes_jinja_options_as_ansible() {
    let dir = tempfile::tempdir().unwrap();
    let role = lookup_template_role(dir.path());
    let t = Templar::new(vec![dir.path().to_path_buf()]);
    let v = vars(json!({
        "ansible_search_path": [role.display().to_string(), dir.path().display().to_string()],
        "role_path": role.display().to_string(),
        "my_var": "world",
    }));
    let render = |expr: &str, v: &Vars| -> Json {
        t.render_str(&format!("{{{{ {expr} }}}}"), "t.yml:1:1", v)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
    };
    assert_eq!(
        render("lookup('template', 'hello.txt')", &v),
        "Hello world!\n"
    );
    assert_eq!(
        render(
            "lookup('template', 'hello_string.txt', variable_start_string='[%', \
             variable_end_string='%]')",
            &v
        ),
        "Hello world!\n"
    );
    assert_eq!(render("lookup('template', 'none.j2') is none", &v), true);
    assert_eq!(
        render("lookup('template', 'dict.j2') is not mapping", &v),
        true
    );
    assert_eq!(
        render(
            "lookup('template', 'managed.j2', template_vars={'extra': 'x'})",
            &v
        ),
        "Ansible managed|x"
    );
    let mut own = v.clone();
    own.insert("ansible_managed", json!("mine"));
    assert_eq!(render("lookup('template', 'managed.j2')", &own), "mine|-");
}

// ansible-playbook 2.19.14: the template module finds `{% include 'world.txt' %}` of a role
// template in the role's templates/ (its action's search path: ansible_search_path entries
// and their templates/, then the template's own directory).
#[test]
fn template_files_include_from_the_roles_templates() {
    let dir = tempfile::tempdir().unwrap();
    let role = lookup_template_role(dir.path());
    let t = Templar::new(vec![dir.path().to_path_buf()]);
    let v = vars(json!({"ansible_search_path": [role.display().to_string()]}));
    let out = t
        .render_file(&role.join("templates/hello.txt"), &v)
        .unwrap();
    assert_eq!(out, "Hello world!\n");
}
