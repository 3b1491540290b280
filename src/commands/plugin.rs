//! Running as a kubectl plugin: installed as `kubectl-ecs` (on the PATH), kubectl runs
//! `kubectl ecs import …` as `kubectl-ecs import …`; installed as `kubectl-ecs-import` or
//! `kubectl-ecs-diff`, as that binary with the rest of the arguments.

use std::ffi::OsString;
use std::path::Path;

/// The binary name kubectl looks for: `kubectl ecs …` runs `kubectl-ecs …`.
pub const PLUGIN_BINARY: &str = "kubectl-ecs";

/// The arguments to parse, and the command name to show in help and errors. As
/// `kubectl-ecs` the arguments are those of `ecs-operator` (`import …`, `diff …`); as
/// `kubectl-ecs-<subcommand>` (kubectl prefers the longest matching plugin name) the
/// subcommand comes from the name. Any other name is the plain binary.
pub fn plugin_argv(argv: Vec<OsString>) -> (Vec<OsString>, Option<&'static str>) {
    let Some(first) = argv.first() else {
        return (argv, None);
    };
    let file_name = Path::new(first)
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.strip_suffix(".exe").unwrap_or(n).to_string());
    let Some(file_name) = file_name else {
        return (argv, None);
    };
    if file_name == PLUGIN_BINARY {
        return (argv, Some("kubectl ecs"));
    }
    for sub in ["import", "diff"] {
        if file_name == format!("{PLUGIN_BINARY}-{sub}") {
            let mut out = Vec::with_capacity(argv.len() + 1);
            out.push(OsString::from(PLUGIN_BINARY));
            out.push(OsString::from(sub));
            out.extend(argv.into_iter().skip(1));
            return (out, Some("kubectl ecs"));
        }
    }
    (argv, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn as_kubectl_ecs_the_arguments_are_the_subcommands() {
        let (argv, name) = plugin_argv(args(&["/usr/local/bin/kubectl-ecs", "diff", "-f", "x"]));
        assert_eq!(
            argv,
            args(&["/usr/local/bin/kubectl-ecs", "diff", "-f", "x"])
        );
        assert_eq!(name, Some("kubectl ecs"));
    }

    #[test]
    fn as_kubectl_ecs_subcommand_the_name_gives_the_subcommand() {
        let (argv, name) = plugin_argv(args(&["kubectl-ecs-import", "--cluster", "c"]));
        assert_eq!(argv, args(&["kubectl-ecs", "import", "--cluster", "c"]));
        assert_eq!(name, Some("kubectl ecs"));
        let (argv, _) = plugin_argv(args(&["/bin/kubectl-ecs-diff", "-f", "-"]));
        assert_eq!(argv, args(&["kubectl-ecs", "diff", "-f", "-"]));
    }

    #[test]
    fn other_names_are_the_plain_binary() {
        let (argv, name) = plugin_argv(args(&["target/debug/ecs-operator", "run"]));
        assert_eq!(argv, args(&["target/debug/ecs-operator", "run"]));
        assert_eq!(name, None);
        assert_eq!(plugin_argv(Vec::new()), (Vec::new(), None));
    }
}
