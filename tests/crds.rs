//! The committed CRDs must be what the code generates (run `ecs-operator crds >
//! crds/ecs-operator.yaml` after changing the API types).

use std::path::PathBuf;

#[test]
fn committed_crds_match_the_generated_ones() {
    let generated = ecs_operator::api::crds_yaml().expect("render CRDs");
    let root = ecs_operator_root();
    for path in [
        "crds/ecs-operator.yaml",
        "charts/ecs-operator/crds/ecs-operator.yaml",
        "config/crd/ecs-operator.yaml",
    ] {
        let committed = std::fs::read_to_string(root.join(path)).unwrap_or_default();
        assert!(
            committed == generated,
            "{path} is out of date: run `cargo run -- crds > crds/ecs-operator.yaml` then tests/packaging/run.sh --sync"
        );
    }
}

#[test]
fn crds_name_the_contract() {
    let yaml = ecs_operator::api::crds_yaml().expect("render CRDs");
    for needle in [
        "group: ecsoperator.io",
        "- ecsc",
        "- ecstd",
        "- ecss",
        "- ecs\n",
        "scope: Namespaced",
        "status: {}",
    ] {
        assert!(yaml.contains(needle), "CRDs lack {needle:?}");
    }
}

/// This checkout, as `cargo test` names it at run time (a binary reused from a shared
/// target dir has another checkout's path baked in).
fn ecs_operator_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}
