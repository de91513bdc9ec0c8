//! `text`: the utterance itself, normalised, without the fillers around it.

use super::utterance::{Utterance, is_separator, normalise};

/// Interjections, trimmed at either end ("嗯，我姓张", "是张三啊").
const INTERJECTIONS: &str = "嗯啊呃额哦噢喔唔哎诶欸";

/// Fillers that open an utterance whatever follows them ("那个我姓王").
const LEADING: &[(&str, ())] = &[("就是说", ()), ("那什么", ()), ("那个", ())];

/// Fillers that open an utterance only before a pause ("这个，我想问一下"; but
/// "这个月底能还", "然后呢" keep them).
const LEADING_BEFORE_PAUSE: &[(&str, ())] = &[("这个", ()), ("然后", ()), ("那么", ())];

/// The utterance as §6 normalises it (full-width folded, punctuation and spaces dropped,
/// ASCII letters lower-cased), without fillers at either end; `None` when nothing else
/// was said. Particles that carry meaning (吧 呢 了 呀) stay.
pub(crate) fn text(utterance: &str) -> Option<String> {
    let u = Utterance::new(utterance);
    let (mut start, mut end) = (0, u.len());
    loop {
        while start < end && is_separator(u.chars[start]) {
            start += 1;
        }
        if start < end && INTERJECTIONS.contains(u.chars[start]) {
            start += 1;
        } else if let Some((len, ())) = u.first_of(start, LEADING).filter(|&(len, _)| start + len <= end) {
            start += len;
        } else if let Some((len, ())) = u.first_of(start, LEADING_BEFORE_PAUSE)
            && start + len <= end
            && (start + len == end || is_separator(u.chars[start + len]))
        {
            start += len;
        } else {
            break;
        }
    }
    loop {
        while end > start && is_separator(u.chars[end - 1]) {
            end -= 1;
        }
        if end > start && INTERJECTIONS.contains(u.chars[end - 1]) {
            end -= 1;
        } else {
            break;
        }
    }
    let text = normalise(&u.text[u.span(start, end)]);
    (!text.is_empty()).then_some(text)
}
