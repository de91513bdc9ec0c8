use callscript_compiler::check::{MemoryFiles, check};
use callscript_compiler::source::Source;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let checked = check(vec![Source::new(path.clone(), text)], &mut MemoryFiles::default());
    let program = callscript_compiler::lower::lower(&checked, checked.files[0].id);
    let model = program.model.clone().unwrap();
    println!("classes {} features {}", model.classes, model.features.len());
    let c = callscript_compiler::learn::Classifier::new(model);
    for t in std::env::args().skip(2) {
        let mut p = Vec::new();
        c.probabilities(&t, &mut p);
        let mut r: Vec<(usize, f32)> = p.iter().copied().enumerate().collect();
        r.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> =
            r.iter().take(4).map(|(i, p)| format!("{}={:.2}", program.intents[*i].name, p)).collect();
        println!("{t}: {}", top.join(" "));
    }
}
