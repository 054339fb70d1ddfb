//! What a parser needs to know about modules: which names exist and which arguments they take.
//! Parsers ask a [`ModuleCatalog`] so that `copyy:` or `dset=` is refused before any host is
//! contacted, without depending on the crate that implements the modules (etcdplay-modules'
//! registry implements it; a test may pass a small catalog of its own).

/// What the parser needs to know about modules.
pub trait ModuleCatalog {
    /// The canonical name for a name as written (`ansible.builtin.copy` → `copy`), or `None`
    /// when no such module exists.
    fn canonical(&self, name: &str) -> Option<String>;
    /// The argument names (aliases included) a module accepts; `None` accepts anything.
    fn arg_names(&self, canonical: &str) -> Option<Vec<&'static str>>;
    /// Whether the module takes a free-form command line (`shell: echo hi`) into `_raw_params`.
    fn free_form(&self, canonical: &str) -> bool;
    /// Whether words of a free-form argument that are not `key=value` pairs are kept as
    /// `_raw_params` for the action to judge when it runs (Ansible's `add_host`, `group_by`:
    /// `add_host: "{{ host_data }}"`), instead of being refused.
    fn raw_params(&self, canonical: &str) -> bool {
        let _ = canonical;
        false
    }
    /// Why a literal argument value is unacceptable (wrong type, not one of the choices), or
    /// `None`. Values containing templates are not passed here: they are only known at run time.
    fn check_value(&self, canonical: &str, arg: &str, value: &serde_json::Value) -> Option<String> {
        let _ = (canonical, arg, value);
        None
    }
    /// Every canonical module name, for "did you mean" suggestions.
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}
