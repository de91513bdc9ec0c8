//! The wire form of actions (CAMPAIGN.md §5): the JSON of a `do`'s inputs and the reading of
//! an answer into the action's typed outputs. Money travels as a decimal string (a JSON
//! number is accepted too), dates as `YYYY-MM-DD`, times as `HH:MM`. Used by the simulator's
//! `sim` answers, `simulate`'s typed `/ok {…}` and real calls alike, so they agree. Real
//! calls reach the bank's systems through [`Backends`]: each configured action's endpoint
//! and the `[sms]` gateway, read from the campaign once when the run starts.

use callscript_compiler::bytecode::ActionCode;
use callscript_compiler::syntax::ast::Type;
use callscript_compiler::value::{Date, Money, Time, Value};
use serde_json::{Map, Value as Json};

use crate::vm::ActionInput;

/// A value as JSON.
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Int(n) => Json::from(*n),
        Value::Bool(b) => Json::Bool(*b),
        Value::Text(t) => Json::String(t.clone()),
        other => Json::String(other.literal_text()),
    }
}

/// The `input` object of a request.
pub fn inputs_json(inputs: &[ActionInput]) -> Json {
    Json::Object(inputs.iter().map(|i| (i.name.clone(), to_json(&i.value))).collect::<Map<_, _>>())
}

/// Reads one JSON value as `ty`; Err says what it is instead.
pub fn from_json(ty: Type, json: &Json) -> Result<Value, String> {
    let bad = || Err(format!("is {} where {} is expected", kind(json), ty.a()));
    match (ty, json) {
        (Type::Text, Json::String(s)) => Ok(Value::Text(s.clone())),
        (Type::Int, Json::Number(n)) => n.as_i64().map(Value::Int).map_or_else(bad, Ok),
        (Type::Money, Json::String(s)) => Money::parse(s.trim()).map(Value::Money).map_or_else(bad, Ok),
        (Type::Money, Json::Number(n)) => Money::parse(&n.to_string()).map(Value::Money).map_or_else(bad, Ok),
        (Type::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Date, Json::String(s)) => Date::parse(s).map(Value::Date).map_or_else(bad, Ok),
        (Type::Time, Json::String(s)) => Time::parse(s).map(Value::Time).map_or_else(bad, Ok),
        _ => bad(),
    }
}

fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Reads an answer: a JSON object holding every output of the action with its type (extra
/// keys are ignored). Err is the cause kept in the transcript.
pub fn outputs_from_json(action: &ActionCode, json: &Json) -> Result<Vec<(String, Value)>, String> {
    let Json::Object(map) = json else { return Err(format!("the answer is {}, not an object", kind(json))) };
    action
        .outputs
        .iter()
        .map(|(name, ty, _)| {
            let v = map.get(name).ok_or_else(|| format!("the answer has no `{name}`"))?;
            from_json(*ty, v).map(|v| (name.clone(), v)).map_err(|why| format!("`{name}` {why}"))
        })
        .collect()
}

/// Reads an answer from its text (the body of an HTTP answer, a typed `/ok {…}`).
pub fn outputs_from_text(action: &ActionCode, text: &str) -> Result<Vec<(String, Value)>, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| format!("the answer is not JSON: {e}"))?;
    outputs_from_json(action, &json)
}

/// What a real call sends with an action (CAMPAIGN.md §5's request body).
pub struct Request<'a> {
    pub action: &'a ActionCode,
    pub campaign: &'a str,
    pub customer_id: &'a str,
    pub attempt: u32,
    pub call_id: &'a str,
    pub inputs: &'a [ActionInput],
}

/// `{"action", "campaign", "customer_id", "attempt", "call_id", "input": {…}}`.
pub fn request_body(r: &Request) -> Vec<u8> {
    let body = serde_json::json!({
        "action": r.action.name,
        "campaign": r.campaign,
        "customer_id": r.customer_id,
        "attempt": r.attempt,
        "call_id": r.call_id,
        "input": inputs_json(r.inputs),
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Header values as sent: `env:NAME` read from the environment (missing: an empty value).
pub fn resolve_headers(headers: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| match v.strip_prefix("env:") {
            Some(var) => (k.clone(), std::env::var(var).unwrap_or_default()),
            None => (k.clone(), v.clone()),
        })
        .collect()
}

/// Calls an action over HTTP: a 2xx JSON object with every output of its type is `Ok`;
/// anything else is `Err` with the cause (the status, the timeout, a body that does not read,
/// a missing or mistyped output).
pub async fn call(
    url: &str,
    headers: &[(String, String)],
    request: &Request<'_>,
    timeout: std::time::Duration,
) -> Result<Vec<(String, Value)>, String> {
    let answer =
        crate::http::post_json(url, headers, &request_body(request), timeout).await.map_err(|e| e.to_string())?;
    if !(200..300).contains(&answer.status) {
        return Err(format!("HTTP status {}", answer.status));
    }
    let text = String::from_utf8(answer.body).map_err(|_| "the answer is not UTF-8".to_string())?;
    outputs_from_text(request.action, &text)
}

/// Where a real call's actions and text messages go (CAMPAIGN.md §5), from the campaign.
#[derive(Clone, Debug, Default)]
pub struct Backends {
    /// The campaign's `task_id`, sent with every request.
    pub campaign: String,
    pub actions: std::collections::BTreeMap<String, Endpoint>,
    pub sms: Option<SmsGateway>,
}

/// An action's `[actions.NAME]`: its URL, its headers (environment values read) and the
/// campaign's timeout.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Option<std::time::Duration>,
}

/// `[sms]`: the gateway's URL, the sender shown to the customer, the timeout of a request.
#[derive(Clone, Debug)]
pub struct SmsGateway {
    pub url: String,
    pub sender: Option<String>,
    pub timeout: std::time::Duration,
}

/// A campaign duration as a std one (negative: zero).
fn duration(d: jiff::SignedDuration) -> std::time::Duration {
    std::time::Duration::try_from(d).unwrap_or_default()
}

impl Backends {
    /// The campaign's actions and gateway; `env:NAME` header values are read now.
    pub fn from_campaign(campaign: &callscript_compiler::campaign::Campaign) -> Backends {
        Backends {
            campaign: campaign.task_id.clone(),
            actions: campaign
                .actions
                .iter()
                .map(|(name, config)| {
                    let endpoint = Endpoint {
                        url: config.url.clone(),
                        headers: resolve_headers(&config.headers),
                        timeout: config.timeout.map(duration),
                    };
                    (name.clone(), endpoint)
                })
                .collect(),
            sms: campaign.sms.as_ref().map(|s| SmsGateway {
                url: s.url.clone(),
                sender: s.sender.clone(),
                timeout: duration(s.timeout),
            }),
        }
    }

    /// Calls `action` for a call: the script's timeout, or the campaign's when shorter.
    pub async fn call_action(
        &self,
        action: &ActionCode,
        who: &Recipient,
        inputs: &[ActionInput],
        script_timeout: std::time::Duration,
    ) -> Result<Vec<(String, Value)>, String> {
        let Some(endpoint) = self.actions.get(&action.name) else {
            return Err(format!("the campaign does not configure `[actions.{}]`", action.name));
        };
        let timeout = endpoint.timeout.map_or(script_timeout, |t| t.min(script_timeout));
        let request = Request {
            action,
            campaign: &self.campaign,
            customer_id: &who.customer_id,
            attempt: who.attempt,
            call_id: &who.call_id,
            inputs,
        };
        call(&endpoint.url, &endpoint.headers, &request, timeout).await
    }

    /// Hands a text message to the gateway: Ok when it answers 2xx.
    pub async fn send_sms(&self, who: &Recipient, text: &str) -> Result<(), String> {
        let Some(gateway) = &self.sms else { return Err("the campaign has no `[sms]` gateway".into()) };
        let mut body = serde_json::json!({
            "to": who.phone,
            "text": text,
            "campaign": self.campaign,
            "customer_id": who.customer_id,
            "attempt": who.attempt,
        });
        if let Some(sender) = &gateway.sender {
            body["sender"] = Json::String(sender.clone());
        }
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let answer =
            crate::http::post_json(&gateway.url, &[], &body, gateway.timeout).await.map_err(|e| e.to_string())?;
        if (200..300).contains(&answer.status) { Ok(()) } else { Err(format!("HTTP status {}", answer.status)) }
    }
}

/// Whom a request is about: the customer and the attempt being called.
#[derive(Clone, Debug, Default)]
pub struct Recipient {
    pub phone: String,
    pub customer_id: String,
    pub attempt: u32,
    /// The call's SIP Call-ID.
    pub call_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action() -> ActionCode {
        ActionCode {
            name: "lookup".into(),
            inputs: vec![("tail".into(), Type::Text)],
            outputs: vec![("balance".into(), Type::Money, 0), ("due".into(), Type::Date, 1)],
        }
    }

    #[test]
    fn an_answer_with_every_output_of_its_type_is_read() {
        let got = outputs_from_text(&action(), r#"{"balance": "1200.50", "due": "2026-12-01", "extra": 1}"#).unwrap();
        assert_eq!(got[0].1.literal_text(), "1200.50");
        assert_eq!(got[1].1.literal_text(), "2026-12-01");
        assert!(outputs_from_text(&action(), r#"{"balance": 1200.5, "due": "2026-12-01"}"#).is_ok());
    }

    #[test]
    fn anything_else_says_why() {
        let why = |t| outputs_from_text(&action(), t).unwrap_err();
        assert_eq!(why(r#"{"balance": "1200.50"}"#), "the answer has no `due`");
        assert_eq!(
            why(r#"{"balance": "x", "due": "2026-12-01"}"#),
            "`balance` is a string where a `money` is expected"
        );
        assert_eq!(why(r#"[1]"#), "the answer is an array, not an object");
        assert!(why("{").starts_with("the answer is not JSON"));
    }
}
