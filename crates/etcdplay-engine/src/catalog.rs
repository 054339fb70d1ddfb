//! The module catalog the playbook parser checks tasks against, built from what
//! etcdplay-modules implements, so that "which modules and arguments exist" has one source.

use etcdplay_modules::{canonical_name, module_arg_spec, ANY_ARG};
use etcdplay_playbook::ModuleCatalog;

/// Modules as etcdplay-modules and the engine implement them.
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineCatalog;

impl ModuleCatalog for EngineCatalog {
    fn canonical(&self, name: &str) -> Option<String> {
        canonical_name(name).map(str::to_string)
    }

    fn arg_names(&self, canonical: &str) -> Option<Vec<&'static str>> {
        let spec = module_arg_spec(canonical);
        if spec.iter().any(|a| a.name == ANY_ARG) {
            return None;
        }
        Some(
            spec.iter()
                .flat_map(|a| std::iter::once(a.name).chain(a.aliases.iter().copied()))
                .collect(),
        )
    }

    fn check_value(&self, canonical: &str, arg: &str, value: &serde_json::Value) -> Option<String> {
        etcdplay_modules::check_arg_value(canonical, arg, value)
    }

    fn free_form(&self, canonical: &str) -> bool {
        module_arg_spec(canonical)
            .iter()
            .any(|a| a.name == "_raw_params")
    }

    fn names(&self) -> Vec<String> {
        etcdplay_playbook::DefaultCatalog
            .names()
            .into_iter()
            .filter(|n| canonical_name(n).is_some())
            .collect()
    }
}
