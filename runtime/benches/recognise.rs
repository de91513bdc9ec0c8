//! Throughput of the built-in recogniser: 1,000 intents × 20 phrases, utterances of 10–20
//! characters (about half of them holding a phrase), `best` with 10 candidates and with all
//! 1,000, and `score_all`. Criterion reports elements per second: one element is one
//! utterance.
//!
//! The `extract` group measures the §11 extractors (`callscript_compiler::extract`) on short
//! customer answers (6–20 characters, most holding an amount, a date, a time or a digit
//! string said in Chinese or written in digits), each extractor alone and all six in turn,
//! against `best` with 10 candidates on the same utterances in the same run.

use std::collections::HashSet;
use std::hint::black_box;

use callscript_compiler::bytecode::IntentTable;
use callscript_compiler::extract;
use callscript_compiler::filters::{digits_zh, money_zh};
use callscript_compiler::pattern::Form;
use callscript_compiler::value::{Date, Money};
use callscript_runtime::vm::recognise::Recogniser;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const INTENTS: usize = 1_000;
const PHRASES: usize = 20;
const UTTERANCES: usize = 1_000;

/// Common characters of spoken Mandarin, negators left out so that a phrase's fate does not
/// depend on where filler lands; the utterances add them back on purpose.
const CHARS: &str = "的一是了我在人有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴退";

/// A deterministic generator (xorshift), so every run measures the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn word(&mut self, chars: &[char], len: usize) -> String {
        (0..len).map(|_| chars[self.below(chars.len())]).collect()
    }
}

struct Data {
    intents: Vec<IntentTable>,
    /// Utterances of 10–20 characters; about half hold a phrase of some intent.
    utterances: Vec<String>,
    /// Per utterance, ten candidates; for a matching utterance they include the intent
    /// whose phrase it holds half of the time.
    candidates: Vec<Vec<u32>>,
}

fn data() -> Data {
    let chars: Vec<char> = CHARS.chars().collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut seen = HashSet::new();
    let mut intents = Vec::with_capacity(INTENTS);
    for i in 0..INTENTS {
        let mut forms = Vec::with_capacity(PHRASES);
        while forms.len() < PHRASES {
            // One phrase in ten has a gap: two parts of two characters.
            let parts = if forms.len() % 10 == 9 {
                vec![rng.word(&chars, 2), rng.word(&chars, 2)]
            } else {
                let len = 3 + rng.below(4);
                vec![rng.word(&chars, len)]
            };
            if seen.insert(parts.clone()) {
                forms.push(Form { parts });
            }
        }
        let regexes = if i % 100 == 0 { vec![format!("{i:03}[0-9]")] } else { Vec::new() };
        intents.push(IntentTable { name: format!("intent{i}"), forms, dtmf: vec![(i % 10).to_string()], regexes });
    }

    let mut utterances = Vec::with_capacity(UTTERANCES);
    let mut candidates = Vec::with_capacity(UTTERANCES);
    for n in 0..UTTERANCES {
        let len = 10 + rng.below(11);
        let mut cands: Vec<u32> = (0..10).map(|_| rng.below(INTENTS) as u32).collect();
        let utterance = if n % 2 == 0 {
            let intent = rng.below(INTENTS);
            let form = &intents[intent].forms[rng.below(PHRASES)];
            let gap = rng.below(3);
            let phrase = form.parts.join(&rng.word(&chars, gap));
            let room = len.saturating_sub(phrase.chars().count()).max(1);
            let before = rng.below(room);
            let after = len.saturating_sub(before + phrase.chars().count());
            if rng.below(2) == 0 {
                cands[rng.below(10)] = intent as u32;
            }
            format!("{}{phrase}{}", rng.word(&chars, before), rng.word(&chars, after))
        } else {
            rng.word(&chars, len)
        };
        utterances.push(utterance);
        candidates.push(cands);
    }
    Data { intents, utterances, candidates }
}

fn bench(c: &mut Criterion) {
    let data = data();
    let recogniser = Recogniser::new(&data.intents).expect("the tables build");
    let all: Vec<u32> = (0..INTENTS as u32).collect();

    // How often the utterances match, as a sanity check of the data.
    let ten = data.utterances.iter().zip(&data.candidates).filter(|(u, c)| recogniser.best(u, c).is_some()).count();
    let any = data.utterances.iter().filter(|u| recogniser.best(u, &all).is_some()).count();
    eprintln!("{UTTERANCES} utterances: {ten} match one of their 10 candidates, {any} match some intent");

    let mut group = c.benchmark_group("recognise");
    group.throughput(Throughput::Elements(UTTERANCES as u64));
    group.bench_function("best/10_candidates", |b| {
        b.iter(|| {
            for (utterance, candidates) in data.utterances.iter().zip(&data.candidates) {
                black_box(recogniser.best(black_box(utterance), candidates));
            }
        })
    });
    group.bench_function("best/1000_candidates", |b| {
        b.iter(|| {
            for utterance in &data.utterances {
                black_box(recogniser.best(black_box(utterance), &all));
            }
        })
    });
    let mut scores = Vec::new();
    group.bench_function("score_all", |b| {
        b.iter(|| {
            for utterance in &data.utterances {
                recogniser.score_all(black_box(utterance), &mut scores);
                black_box(&scores);
            }
        })
    });
    group.finish();

    c.bench_function("recogniser_new/1000x20", |b| b.iter(|| Recogniser::new(black_box(&data.intents))));

    let answers = answers();
    let today = Date::parse("2026-11-24").expect("a date");
    let read = answers.iter().filter(|u| extract::money(u).is_some() || extract::date(u, today).is_some()).count();
    eprintln!("{} answers: {read} hold an amount or a date", answers.len());
    let mut group = c.benchmark_group("extract");
    group.throughput(Throughput::Elements(answers.len() as u64));
    group.bench_function("phrase_scan/best_10_candidates", |b| {
        b.iter(|| {
            for (utterance, candidates) in answers.iter().zip(data.candidates.iter().cycle()) {
                black_box(recogniser.best(black_box(utterance), candidates));
            }
        })
    });
    group.bench_function("int", |b| {
        b.iter(|| {
            for u in &answers {
                black_box(extract::int(u));
            }
        })
    });
    group.bench_function("money", |b| {
        b.iter(|| {
            for u in &answers {
                black_box(extract::money(u));
            }
        })
    });
    group.bench_function("date", |b| {
        b.iter(|| {
            for u in &answers {
                black_box(extract::date(u, today));
            }
        })
    });
    group.bench_function("time", |b| {
        b.iter(|| {
            for u in &answers {
                black_box(extract::time(u));
            }
        })
    });
    group.bench_function("digits", |b| {
        b.iter(|| {
            for u in &answers {
                black_box(extract::digits(u));
            }
        })
    });
    group.bench_function("text", |b| {
        b.iter(|| {
            for u in &answers {
                black_box(extract::text(u));
            }
        })
    });
    group.bench_function("all_six", |b| {
        b.iter(|| {
            for u in &answers {
                black_box((
                    extract::int(u),
                    extract::money(u),
                    extract::date(u, today),
                    extract::time(u),
                    extract::digits(u),
                    extract::text(u),
                ));
            }
        })
    });
    group.finish();
}

/// 1,000 short answers to "when and how much can you pay?" and the like: an amount, a date,
/// a time or a digit string (said in Chinese through the prompt filters, in colloquial forms,
/// or written in digits) in a few frames, and one in five with no value at all.
fn answers() -> Vec<String> {
    const DAYS: &[&str] =
        &["明天", "后天", "下周一", "这周五", "月底", "下个月10号", "3号", "十五号", "周五", "过两天"];
    const TIMES: &[&str] = &["下午三点", "三点半", "晚上八点", "上午十点", "8:30", "中午", "下午两点一刻"];
    const COLLOQUIAL: &[&str] = &["三千五", "一万二", "八百多", "1.5万", "两千块", "五十块零五毛", "3500"];
    const NOTHING: &[&str] = &["好的好的", "你等一下", "我现在在开会", "不需要谢谢", "万一还不上怎么办", "嗯是我本人"];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    (0..1_000)
        .map(|n| {
            let day = DAYS[rng.below(DAYS.len())];
            let cents = (rng.below(5_000_000) as i64) * if rng.below(2) == 0 { 100 } else { 1 };
            let amount = match rng.below(3) {
                0 => money_zh(Money::from_cents(cents)),
                1 => COLLOQUIAL[rng.below(COLLOQUIAL.len())].to_owned(),
                _ => (cents / 100).to_string(),
            };
            match n % 5 {
                0 => format!("我{day}能还{amount}"),
                1 => format!("{amount}吧"),
                2 => format!("{}给我打电话", TIMES[rng.below(TIMES.len())]),
                3 => format!("尾号是{}", digits_zh(&format!("{:04}", rng.below(10_000)))),
                _ => NOTHING[rng.below(NOTHING.len())].to_owned(),
            }
        })
        .collect()
}

criterion_group!(benches, bench);
criterion_main!(benches);
