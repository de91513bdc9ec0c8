//! The words a report shows for the names it counts. Dispositions and the built-in outcomes
//! have a fixed Chinese title (the runtime names them, not the script); an intent or an
//! outcome has the title its script gives it (`intent who "询问身份" { … }`,
//! `outcomes { promised "承诺还款" goal }`). Steps have no titles in the language, and a name
//! without a title is shown as declared.

use std::collections::BTreeMap;

use serde::Serialize;

/// The title of a disposition (CAMPAIGN.md §4), `None` for one this callscript does not know.
pub fn disposition_title(id: &str) -> Option<&'static str> {
    Some(match id {
        "answered" => "接通",
        "customer_hangup" => "客户挂断",
        "no_answer" => "无人接听",
        "busy" => "占线",
        "invalid_number" => "空号",
        "rejected" => "拒接",
        "failed" => "失败",
        "unknown" => "未知",
        _ => return None,
    })
}

/// The title of an outcome the runtime names (a script's own outcomes have none).
pub fn builtin_outcome_title(id: &str) -> Option<&'static str> {
    Some(match id {
        "transferred" => "已转人工",
        "transfer_failed" => "转人工失败",
        "timeout" => "通话超时",
        _ => return None,
    })
}

/// The titles a campaign's scripts give their intents and outcomes, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScriptTitles {
    pub intents: BTreeMap<String, String>,
    pub outcomes: BTreeMap<String, String>,
}

impl ScriptTitles {
    /// An outcome's title: the script's, else the runtime's for a built-in one.
    pub fn outcome(&self, id: &str) -> Option<String> {
        self.outcomes.get(id).cloned().or_else(|| builtin_outcome_title(id).map(String::from))
    }
}

/// The title of an objection named by an emotion (`emotion angry`).
fn emotion_title(id: &str) -> Option<&'static str> {
    Some(match id {
        "emotion angry" => "情绪：愤怒",
        "emotion upset" => "情绪：不快",
        "emotion neutral" => "情绪：平静",
        "emotion happy" => "情绪：愉快",
        _ => return None,
    })
}

/// What a breakdown shows for attempts stored before their origin was kept (schema 7).
pub const UNKNOWN: &str = "unknown";
/// Its title.
pub const UNKNOWN_TITLE: &str = "未知";

/// The titles of the names a report counts, by kind; only names that have one. They are part
/// of the JSON (`titles`), so a dashboard shows the same words as the HTML page.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Titles {
    pub dispositions: BTreeMap<String, String>,
    pub outcomes: BTreeMap<String, String>,
    pub intents: BTreeMap<String, String>,
}

impl Titles {
    /// The title of a disposition, or its name.
    pub fn disposition<'a>(&'a self, id: &'a str) -> &'a str {
        self.dispositions.get(id).map_or(id, String::as_str)
    }

    /// The title of an outcome, or its name.
    pub fn outcome<'a>(&'a self, id: &'a str) -> &'a str {
        self.outcomes.get(id).map_or(id, String::as_str)
    }

    /// The title of an intent or an emotion (an objection is named by its first), or its name.
    pub fn intent<'a>(&'a self, id: &'a str) -> &'a str {
        self.intents.get(id).map(String::as_str).or_else(|| emotion_title(id)).unwrap_or(id)
    }
}

/// `title (name)` for the terminal table when the name has a title, else the name.
pub fn both(name: &str, title: &str) -> String {
    if title == name { name.to_string() } else { format!("{name} {title}") }
}

/// A breakdown key's visible form: `未知` for attempts whose origin was not stored.
pub fn key_title(key: &str) -> &str {
    if key == UNKNOWN { UNKNOWN_TITLE } else { key }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every disposition the runtime writes has a Chinese title.
    #[test]
    fn every_disposition_has_a_title() {
        for id in ["answered", "customer_hangup", "no_answer", "busy", "invalid_number", "rejected", "failed"] {
            let title = disposition_title(id).unwrap_or_else(|| panic!("{id} has no title"));
            assert!(!title.is_ascii(), "{id}: {title}");
        }
        assert_eq!(disposition_title("ringing_forever"), None);
    }
}
