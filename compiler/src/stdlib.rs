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

/// The intent `name` of the stdlib module `path` as the recogniser's table, phrases expanded
/// like any script's intent. Real calls listen for `std.zh.common`'s `angry` whatever the
/// script imports (LANGUAGE.md §15: the stdlib anger vocabulary).
pub fn intent_table(path: &str, name: &str) -> Option<crate::bytecode::IntentTable> {
    let (file, _) = crate::syntax::parser::parse(module(path)?, crate::span::SourceId(0));
    file.items.iter().find_map(|item| match item {
        crate::syntax::ast::Item::Intent(intent) if intent.name.name == name => {
            Some(crate::lower::intent_table(intent))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_anger_vocabulary_is_read_from_the_common_module() {
        let angry = super::intent_table("std.zh.common", "angry").unwrap();
        assert_eq!(angry.name, "angry");
        assert!(angry.forms.iter().any(|f| f.parts == ["有病吧"]), "{:?}", angry.forms);
        assert!(super::intent_table("std.zh.common", "no_such_intent").is_none());
        assert!(super::intent_table("std.zh.nowhere", "angry").is_none());
    }
}
