//! The campaign model: one small helper reads a file and renders each diagnostic as
//! `code line:column message`, so a test is a line of input and a line of expectation.

use super::*;
use crate::source::Source;

fn problems(text: &str, shape: Shape) -> Vec<String> {
    let source = Source::new("c", text);
    let read = read(SourceId(0), text, shape);
    read.diagnostics
        .iter()
        .map(|d| {
            let lc = source.line_col(d.primary.at.span.start);
            format!("{} {}:{} {}", d.code, lc.line, lc.column, d.message)
        })
        .collect()
}

fn toml(text: &str) -> Vec<String> {
    problems(&format!("task_id = \"t\"\nscript = \"a.call\"\n{text}"), Shape::Toml)
}

fn ok(text: &str) -> Campaign {
    let read = read(SourceId(0), &format!("task_id = \"t\"\nscript = \"a.call\"\n{text}"), Shape::Toml);
    read.campaign.unwrap_or_else(|| panic!("{:?}", read.diagnostics))
}

#[test]
fn defaults_are_typed() {
    let c = ok("");
    assert_eq!(c.schedule.start_time, Time::constant(9, 0, 0, 0));
    assert_eq!(c.schedule.end_time, Time::constant(18, 0, 0, 0));
    assert_eq!(c.schedule.timezone_name, "Asia/Shanghai");
    assert_eq!(c.schedule.days.len(), 7);
    assert_eq!(c.retry.backoff, SignedDuration::from_mins(30));
    assert_eq!(c.telephony.kind, TelephonyKind::Sim);
    assert_eq!(c.telephony.ring_timeout, SignedDuration::from_secs(30));
    assert_eq!(c.speech.tts, Tts::Text);
    assert_eq!(c.store.sqlite_path(), Some("campaign.db"));
    assert_eq!(c, Campaign { spans: c.spans.clone(), ..defaults("t", "a.call") });
}

#[test]
fn syntax_and_schema_errors() {
    assert_eq!(problems("task_id = \n", Shape::Toml)[0].split(' ').next(), Some("E600"));
    assert_eq!(toml("[retry]\nmax_attemps = 3\n"), ["E601 4:1 unknown key `max_attemps` in the campaign file"]);
    assert_eq!(
        toml("[schedule]\nmax_concurrent = \"lots\"\n")[0].split(' ').take(2).collect::<Vec<_>>(),
        ["E602", "4:18"]
    );
    assert_eq!(toml("colour = 1\n")[0].split(' ').take(2).collect::<Vec<_>>(), ["E601", "3:1"]);
    assert_eq!(problems("script = \"a.call\"\n", Shape::Toml), ["E603 1:1 the campaign names no `task_id`"]);
}

#[test]
fn values_are_checked_all_at_once() {
    assert_eq!(
        toml(
            "[schedule]\nstart_time = \"9am\"\ntimezone = \"Mars/Base\"\nmax_concurrent = 0\n[retry]\nbackoff = \"30 minutes\"\non = [\"busy\", \"sad\"]\n"
        ),
        [
            "E604 4:14 `9am` is not a time of day; write it as HH:MM, e.g. \"09:00\"",
            "E604 5:12 `Mars/Base` is not a time zone; use an IANA name such as \"Asia/Shanghai\"",
            "E604 6:18 max_concurrent must be at least 1, not 0",
            "E604 9:15 `sad` is not a disposition to retry; use busy, no_answer, failed, rejected, customer_hangup, invalid_number",
        ]
    );
    assert_eq!(ok("[retry]\nbackoff = \"30 minutes\"\n").retry.backoff, SignedDuration::from_mins(30));
    assert_eq!(toml("[retry]\nbackoff = \"soon\"\n").len(), 1);
    assert_eq!(
        toml("[limits]\nper_customer_per_day = 0\n"),
        ["E604 4:24 per_customer_per_day must be at least 1 (0 would place no call), not 0"]
    );
    assert_eq!(toml("[schedule]\ndays = []\n").len(), 1);
    assert_eq!(
        toml("[schedule]\nholidays = [\"2026-13-01\"]\n")[0].split(' ').take(2).collect::<Vec<_>>(),
        ["E604", "4:13"]
    );
}

#[test]
fn settings_that_do_not_fit() {
    assert_eq!(
        toml("[schedule]\nstart_time = \"19:00\"\nend_time = \"18:00\"\n"),
        ["E605 5:12 the call window ends (18:00) before it starts (19:00)"]
    );
    assert_eq!(
        toml("[telephony]\nkind = \"sip\"\ntransport = \"sctp\"\nauth_user = \"bank\"\n"),
        [
            "E605 4:8 kind = \"sip\" needs a gateway",
            "E604 5:13 transport `sctp` is not supported; use \"udp\" or \"tcp\"",
            "E605 6:13 auth_user and auth_password_env go together",
        ]
    );
    assert_eq!(toml("[recording]\nenabled = true\n").len(), 2);
    assert_eq!(toml("[speech]\ntts = \"clips\"\nrate = 20\n").len(), 2);
    assert_eq!(toml("[sim]\nanswer = 0.9\nbusy = 0.5\n")[0].split(' ').next(), Some("E605"));
    let sip = ok("[telephony]\nkind = \"sip\"\ngateway = \"sip:127.0.0.1:5090\"\ntransport = \"tcp\"\n");
    assert_eq!(sip.telephony.gateway.unwrap().address, "127.0.0.1:5090".parse().unwrap());
    assert_eq!(sip.telephony.transport, Transport::Tcp);
    assert_eq!(sip.telephony.media_ports, MediaPorts::PerCall, "a socket per call unless asked");
    let shared = ok("[telephony]\nkind = \"sip\"\ngateway = \"sip:127.0.0.1:5090\"\nmedia_ports = \"shared\"\n");
    assert_eq!(shared.telephony.media_ports, MediaPorts::Shared);
    assert_eq!(
        toml("[telephony]\nkind = \"sim\"\nmedia_ports = \"pooled\"\n"),
        ["E604 5:15 media_ports `pooled` is not one of \"per_call\" or \"shared\""]
    );
}

#[test]
fn emotion_thresholds_have_defaults_ranges_and_their_place() {
    let c = ok("");
    assert_eq!((c.speech.emotion_loudness_db, c.speech.emotion_pitch_ratio), (6.0, 1.2));
    let c = ok("[speech]\nemotion_loudness_db = 8\nemotion_pitch_ratio = 1.35\n");
    assert_eq!((c.speech.emotion_loudness_db, c.speech.emotion_pitch_ratio), (8.0, 1.35));
    assert_eq!(
        toml("[speech]\nemotion_loudness_db = 0.5\nemotion_pitch_ratio = 1.0\n"),
        [
            "E604 4:23 emotion_loudness_db 0.5 is out of range; use 1 to 40 dB louder than the customer's earlier speech (default 6)",
            "E604 5:23 emotion_pitch_ratio 1 is out of range; use a ratio above 1 and at most 4 over the customer's earlier pitch (default 1.2)",
        ]
    );
    assert_eq!(toml("[speech]\nemotion_pitch_ratio = \"high\"\n")[0].split(' ').next(), Some("E602"));
}

#[test]
fn scripts_and_ids() {
    assert_eq!(
        problems("task_id = \"a\\\"b\"\nscript = \"a.py\"\n", Shape::Toml),
        [
            "E604 1:11 task_id `a\"b` holds '\"'; use letters, digits, `_`, `-` and `.`",
            "E604 2:10 the script must be a `.call` source or a `.callc` built by `callscript build`, not `a.py`",
        ]
    );
    let c = ok("");
    assert_eq!((c.scripts[0].file(), c.scripts[0].name(), c.scripts[0].share), ("a.call", None, 100));
    let c = read(SourceId(0), "task_id = \"t\"\nscript = \"x.call#second\"\n", Shape::Toml).campaign.unwrap();
    assert_eq!((c.scripts[0].file(), c.scripts[0].name()), ("x.call", Some("second")));
    assert_eq!(toml("jurisdiction = \"mars\"\n")[0].split(' ').next(), Some("E604"));
}

#[test]
fn the_json_task_is_read_like_toml() {
    let task = |schedule: &str| {
        format!(
            "{{ \"task_id\": \"T1\", \"purpose\": \"collection\", \"script_template\": \"您好\",\n  \"schedule\": {schedule} }}"
        )
    };
    let c = read(
        SourceId(0),
        &task("{ \"start_time\": \"09:00\", \"end_time\": \"18:00\", \"max_concurrent\": 5 }"),
        Shape::Task,
    )
    .campaign
    .unwrap();
    assert_eq!(c.schedule.max_concurrent, 5);
    assert_eq!(c.task.as_ref().unwrap().purpose, "collection");
    assert_eq!(
        problems(&task("{ \"start_time\": \"9am\", \"end_time\": \"18:00\" }"), Shape::Task),
        ["E604 2:31 `9am` is not a time of day; write it as HH:MM, e.g. \"09:00\""]
    );
    assert_eq!(
        problems(&task("{ \"start_time\": \"19:00\", \"end_time\": \"18:00\" }"), Shape::Task)[0]
            .split(' ')
            .take(2)
            .collect::<Vec<_>>(),
        ["E605", "2:52"]
    );
    assert_eq!(
        problems(&task("{ \"max_concurrent\": 0 }"), Shape::Task)[0].split(' ').take(2).collect::<Vec<_>>(),
        ["E604", "2:35"]
    );
    assert_eq!(
        problems(&task("{ \"start_time\": \"09:00\", \"colour\": 1 }"), Shape::Task),
        ["E601 2:40 unknown key `colour` in the campaign file"]
    );
    assert_eq!(
        problems("{ \"task_id\": \"T\\\"1\", \"script_template\": \"x\" }", Shape::Task)[0].split(' ').next(),
        Some("E604")
    );
    assert_eq!(problems("{ \"task_id\": ", Shape::Task)[0].split(' ').next(), Some("E600"));
    assert_eq!(problems("{ \"task_id\": \"T\" }", Shape::Task)[0].split(' ').next(), Some("E603"));
    assert_eq!(
        problems("{ \"task_id\": \"T\", \"script_template\": \"x\", \"purpose\": \"fun\" }", Shape::Task)[0]
            .split(' ')
            .next(),
        Some("E604")
    );
    assert_eq!(problems("[1, 2]", Shape::Task)[0].split(' ').next(), Some("E602"));
}

#[test]
fn reading_is_total() {
    for text in [
        "",
        "\u{0}",
        "[",
        "a = [",
        "[[schedule]]\n",
        "[schedule]\n[schedule]\n",
        "task_id = 1e999",
        "{",
        "null",
        "\"x\"",
    ] {
        let _ = read(SourceId(0), text, Shape::Toml);
        let _ = read(SourceId(0), text, Shape::Task);
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    const EXAMPLE: &str = include_str!("../../../examples/loan_reminder/campaign.toml");
    const TASK: &str = r#"{ "task_id": "T1", "purpose": "collection", "customer_segment": "s",
  "script_template": "您好", "schedule": { "start_time": "09:00", "end_time": "18:00", "max_concurrent": 5 } }"#;

    /// Every diagnostic points inside the text, on character boundaries; a campaign comes back
    /// exactly when there is no error.
    fn well_formed(text: &str, shape: Shape) {
        let read = read(SourceId(0), text, shape);
        for d in &read.diagnostics {
            let span = d.primary.at.span;
            assert!(span.start <= span.end && span.end as usize <= text.len(), "{span:?} in {} bytes", text.len());
            assert!(text.is_char_boundary(span.start as usize) && text.is_char_boundary(span.end as usize));
        }
        let errors = read.diagnostics.iter().any(Diagnostic::is_error);
        assert_eq!(read.campaign.is_some(), !errors, "{:?}", read.diagnostics);
    }

    /// A byte-level edit of `base`: a splice of `insert` at `at`, `delete` bytes removed.
    fn mutate(base: &str, at: usize, delete: usize, insert: &str) -> String {
        let at = base.floor_char_boundary(at % (base.len() + 1));
        let end = base.floor_char_boundary((at + delete).min(base.len())).max(at);
        format!("{}{insert}{}", &base[..at], &base[end..])
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

        #[test]
        fn any_edit_of_a_campaign_reads_or_reports(at in 0usize..4096, delete in 0usize..40,
            insert in prop::sample::select(vec!["", "\"", "=", "[", "]", "\n", "0", "-1", "\"24:00\"", "[x]\n", "{", "é", "\u{0}", "99999999999999999999", "1e999", "[[a]]\n"])) {
            well_formed(&mutate(EXAMPLE, at, delete, insert), Shape::Toml);
            well_formed(&mutate(TASK, at, delete, insert), Shape::Task);
        }

        #[test]
        fn any_text_reads_or_reports(text in "\\PC{0,200}") {
            well_formed(&text, Shape::Toml);
            well_formed(&text, Shape::Task);
        }
    }

    #[test]
    fn the_examples_read_clean() {
        well_formed(EXAMPLE, Shape::Toml);
        assert!(read(SourceId(0), EXAMPLE, Shape::Toml).campaign.is_some());
        assert!(read(SourceId(0), TASK, Shape::Task).campaign.is_some());
    }
}

#[test]
fn a_split_campaign_names_its_scripts_and_their_shares() {
    let ab = |text: &str| problems(&format!("task_id = \"t\"\n{text}"), Shape::Toml);
    let c =
        read(SourceId(0), "task_id = \"t\"\nscript = [\"a.call\", \"b.call#two\"]\nsplit = [70, 30]\n", Shape::Toml)
            .campaign
            .unwrap();
    let scripts: Vec<_> = c.scripts.iter().map(|s| (s.file(), s.name(), s.share)).collect();
    assert_eq!(scripts, [("a.call", None, 70), ("b.call", Some("two"), 30)]);
    assert!(c.is_split());
    // A list of one needs no split; one script is not split.
    assert_eq!(ok("").scripts.len(), 1);
    assert!(!ok("").is_split());
    assert!(ab("script = [\"a.call\"]\n").is_empty());
    assert_eq!(
        ab("script = [\"a.call\", \"b.call\"]\nsplit = [60, 30]\n"),
        ["E605 3:9 the shares of `split` add up to 90, not 100"]
    );
    assert_eq!(
        ab("script = [\"a.call\", \"b.call\", \"c.call\"]\nsplit = [50, 50]\n"),
        ["E605 3:9 `split` has 2 shares for 3 scripts"]
    );
    assert_eq!(
        ab("script = [\"a.call\", \"b.call\"]\nsplit = [100, 0]\n"),
        ["E604 3:15 a share of 0 never calls `b.call`; remove the script instead"]
    );
    assert_eq!(
        ab("script = [\"a.call\", \"b.call\"]\nsplit = [150, -50]\n"),
        [
            "E604 3:10 a share is a percentage of the customers, 1 to 100, not 150",
            "E604 3:15 a share is a percentage of the customers, 1 to 100, not -50",
        ]
    );
    assert_eq!(ab("script = [\"a.call\", \"b.call\"]\n"), ["E603 2:10 the campaign names 2 scripts but no `split`"]);
    assert_eq!(
        ab("script = \"a.call\"\nsplit = [50, 50]\n"),
        ["E605 3:9 `split` shares the customers between scripts, but `script` names one"]
    );
    assert_eq!(ab("script = [\"a.call\", \"a.call\"]\nsplit = [50, 50]\n"), ["E605 2:21 `a.call` is named twice"]);
    assert_eq!(
        ab("script = [\"a.call\", \"b.py\"]\nsplit = [50, 50]\n"),
        ["E604 2:21 the script must be a `.call` source or a `.callc` built by `callscript build`, not `b.py`"]
    );
    assert_eq!(ab("script = []\n"), ["E604 2:10 `script` is an empty list: name the script the campaign runs"]);
    assert_eq!(ab("script = 3\n")[0].split(' ').take(2).collect::<Vec<_>>(), ["E602", "2:10"]);
}

#[test]
fn rfm_names_columns_each_optional() {
    let c = ok("[rfm]\nfrequency = \"txn_count\"\nas_of = \"2026-11-24\"\n");
    let rfm = c.rfm.unwrap();
    assert_eq!(rfm.columns().collect::<Vec<_>>(), [("frequency", "txn_count")]);
    assert_eq!(rfm.as_of, crate::value::Date::parse("2026-11-24"));
    assert_eq!(ok("").rfm, None);
    assert_eq!(
        toml("[rfm]\nrecency = \"d\"\nrecncy = \"x\"\n"),
        ["E601 5:1 unknown key `recncy` in the campaign file"]
    );
    assert_eq!(
        toml("[rfm]\nrecency = \" \"\nfrequency = \"id\"\nmonetary = \"x\"\nas_of = \"x\"\n"),
        [
            "E604 7:9 `x` is not a date; write it as yyyy-mm-dd, e.g. \"2026-12-01\"",
            "E604 4:11 [rfm] recency names no column",
            "E604 5:13 [rfm] frequency cannot be the list's `id` column",
        ]
    );
    assert_eq!(
        toml("[rfm]\nrecency = \"d\"\nmonetary = \"d\"\n"),
        ["E605 5:12 [rfm] monetary names the column `d`, which recency names too"]
    );
    assert_eq!(toml("[rfm]\n"), ["E603 3:1 [rfm] names no column"]);
}
