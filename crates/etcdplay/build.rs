//! Links `etcdplay-datadir-reader` without debug sections: etcdplay uploads it to every etcd
//! host, and the release profile's line tables would make it ~20 times larger (22 MB instead
//! of about 1 MB of code) for backtraces nobody reads there. `etcdplay` itself is unchanged.

fn main() {
    println!("cargo:rustc-link-arg-bin=etcdplay-datadir-reader=-Wl,--strip-debug");
    println!("cargo:rerun-if-changed=build.rs");
}
