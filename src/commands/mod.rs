//! The command-line tools beside `run`: `import` (AWS → manifests) and `diff` (manifests
//! → the AWS changes the operator would make), also as a kubectl plugin.

pub mod diff;
pub mod import;
pub mod plugin;
pub mod translate;
