//! Learned intents (§14) on the development set of `tests/intents/`: training time at the
//! scale the issue names (20,000 examples: the training set repeated with filler variants),
//! and the throughput of `intents eval`'s recognition (phrases first, then the model) against
//! the phrase recogniser alone on the same utterances in the same run. Also prints the model's
//! size in the program and the accuracy of both turn rules on the held-out 30 %.

use std::hint::black_box;

use callscript_compiler::bytecode::IntentTable;
use callscript_compiler::learn::{Classifier, Sample, train};
use callscript_runtime::intents::{Judge, evaluate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn rows(name: &str) -> Vec<(String, String)> {
    let path = format!("{}/../tests/intents/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("the development set");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader.records().map(|r| r.expect("a row")).map(|r| (r[0].to_string(), r[1].to_string())).collect()
}

/// One intent per label, the templates as its phrases.
fn tables(templates: &[(String, String)], labels: &[String]) -> Vec<IntentTable> {
    labels
        .iter()
        .map(|name| {
            let forms = templates
                .iter()
                .filter(|(_, i)| i == name)
                .flat_map(|(t, _)| callscript_compiler::pattern::parse(t).unwrap_or_default())
                .collect();
            IntentTable { name: name.clone(), forms, dtmf: Vec::new(), regexes: Vec::new() }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let train_rows = rows("collection_train.csv");
    let test_rows = rows("collection_test.csv");
    let templates = rows("collection_templates.csv");
    let mut labels: Vec<String> = train_rows.iter().map(|(_, i)| i.clone()).collect();
    labels.sort();
    labels.dedup();
    let id = |name: &str| labels.iter().position(|l| l == name).expect("a known label") as u32;
    let mut samples: Vec<Sample> =
        train_rows.iter().chain(&templates).map(|(t, i)| Sample { text: t.clone(), intent: id(i) }).collect();
    let model = train(&samples, labels.len() as u32).expect("a model");
    let bytes = postcard::to_allocvec(&model).expect("serialises").len();
    let classifier = Classifier::new(model);
    let tables = tables(&templates, &labels);
    let phrases_first = Judge::new(&tables, Some(&classifier), 0.5).expect("a recogniser");
    let no_phrases: Vec<IntentTable> = tables.iter().map(|t| IntentTable { forms: Vec::new(), ..t.clone() }).collect();
    let learned_only = Judge::new(&no_phrases, Some(&classifier), 0.5).expect("a recogniser");
    let phrases_only = Judge::new(&tables, None, 0.5).expect("a recogniser");
    for (name, judge) in
        [("phrases first", &phrases_first), ("model only", &learned_only), ("phrases only", &phrases_only)]
    {
        let e = evaluate(judge, &test_rows);
        println!("{name}: accuracy {:.3}, macro F1 {:.3} on {} held-out utterances", e.accuracy, e.macro_f1, e.total);
    }
    println!(
        "model: {} n-grams × {} intents, {bytes} bytes in the program",
        classifier.model().features.len(),
        labels.len()
    );

    // 20,000 examples: the training set again with filler variants.
    let fillers = ["", "嗯", "那个", "啊", "就是", "喂", "哎", "然后"];
    let base = samples.clone();
    for (k, filler) in fillers.iter().enumerate().skip(1) {
        samples.extend(
            base.iter()
                .map(|s| Sample { text: format!("{filler}{}{}", s.text, fillers[(k + 3) % 8]), intent: s.intent }),
        );
    }
    samples.truncate(20_000);
    let mut group = c.benchmark_group("learn");
    group.sample_size(10);
    group.bench_function(format!("train_{}_examples", samples.len()), |b| {
        b.iter(|| train(black_box(&samples), labels.len() as u32))
    });
    group.finish();

    let texts: Vec<&str> = test_rows.iter().map(|(t, _)| t.as_str()).collect();
    let mut group = c.benchmark_group("recognise_turn");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("phrases_only", |b| {
        b.iter(|| texts.iter().map(|t| phrases_only.recognise(t).confidence).sum::<f32>())
    });
    group.bench_function("phrases_then_model", |b| {
        b.iter(|| texts.iter().map(|t| phrases_first.recognise(t).confidence).sum::<f32>())
    });
    group.bench_function("model_only", |b| {
        b.iter(|| texts.iter().map(|t| learned_only.recognise(t).confidence).sum::<f32>())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
