//! Standard-library modules embedded in the compiler (`use std.zh.common`).

/// `(module path, source text)` of every stdlib module.
pub const MODULES: &[(&str, &str)] = &[
    ("std.zh.common", include_str!("../../stdlib/zh/common.call")),
    ("std.zh.callback", include_str!("../../stdlib/zh/callback.call")),
];

/// Whether a source's name is a stdlib module's (`std.zh.common`), not an author's file.
pub fn is_module_name(name: &str) -> bool {
    MODULES.iter().any(|(p, _)| *p == name)
}

/// The source of a stdlib module, if it exists.
pub fn module(path: &str) -> Option<&'static str> {
    MODULES.iter().find(|(p, _)| *p == path).map(|(_, text)| *text)
}

/// `(jurisdiction, pack text)` of every compliance rule pack (`stdlib/compliance/*.toml`); `cn`
/// first, as it is the default.
pub const PACKS: &[(&str, &str)] =
    &[("cn", include_str!("../../stdlib/compliance/cn.toml")), ("us", include_str!("../../stdlib/compliance/us.toml"))];
