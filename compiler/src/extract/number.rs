//! Numbers in an utterance: which characters are numerals of a number, and its value.
//!
//! This is the one reading of numbers: `int`, `money`, `digits`, the hours and days of
//! `time` and `date`, and §6's regexes (through [`numerals_into`]) all take their numbers
//! from [`scan`].

use std::fmt::Write as _;
use std::sync::LazyLock;

use super::utterance::{Utterance, is_separator};

/// A numeral character: a digit (Chinese or Arabic) or a unit (十 百 千 万 亿).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sym {
    /// A digit 0–9; `arabic` for `0`–`9` (full-width ones are folded before).
    Digit { value: u8, arabic: bool },
    /// 十 (1), 百 (2), 千 (3), 万 (4), 亿 (8): the power of ten.
    Unit(u8),
}

/// The Chinese numeral characters of [`sym`].
const CHINESE_NUMERALS: [(char, Sym); 35] = {
    const fn d(value: u8) -> Sym {
        Sym::Digit { value, arabic: false }
    }
    [
        ('零', d(0)),
        ('〇', d(0)),
        ('一', d(1)),
        ('幺', d(1)),
        ('壹', d(1)),
        ('二', d(2)),
        ('两', d(2)),
        ('兩', d(2)),
        ('贰', d(2)),
        ('貳', d(2)),
        ('三', d(3)),
        ('叁', d(3)),
        ('四', d(4)),
        ('肆', d(4)),
        ('五', d(5)),
        ('伍', d(5)),
        ('六', d(6)),
        ('陆', d(6)),
        ('陸', d(6)),
        ('七', d(7)),
        ('柒', d(7)),
        ('八', d(8)),
        ('捌', d(8)),
        ('九', d(9)),
        ('玖', d(9)),
        ('十', Sym::Unit(1)),
        ('拾', Sym::Unit(1)),
        ('百', Sym::Unit(2)),
        ('佰', Sym::Unit(2)),
        ('千', Sym::Unit(3)),
        ('仟', Sym::Unit(3)),
        ('万', Sym::Unit(4)),
        ('萬', Sym::Unit(4)),
        ('亿', Sym::Unit(8)),
        ('億', Sym::Unit(8)),
    ]
};

/// [`CHINESE_NUMERALS`] hashed by code point modulo this, without collisions (checked when
/// the table is built), so that telling a numeral from any other character is one load and
/// one compare: every extractor and regex asks it of every character.
const SLOTS: u32 = 162;

/// Per slot: (code point, or `u32::MAX` for an empty slot; the numeral).
static SLOT_TABLE: [(u32, Sym); SLOTS as usize] = {
    let mut table = [(u32::MAX, Sym::Unit(1)); SLOTS as usize];
    let mut i = 0;
    while i < CHINESE_NUMERALS.len() {
        let (c, value) = CHINESE_NUMERALS[i];
        let slot = (c as u32 % SLOTS) as usize;
        assert!(table[slot].0 == u32::MAX, "two numerals share a slot: change SLOTS");
        table[slot] = (c as u32, value);
        i += 1;
    }
    table
};

/// The numeral characters: 零〇 0, 一幺壹 1, 二两兩贰貳 2, 三叁 3, 四肆 4, 五伍 5, 六陆陸 6,
/// 七柒 7, 八捌 8, 九玖 9, 十拾, 百佰, 千仟, 万萬, 亿億, and the ASCII digits.
#[inline]
pub(crate) fn sym(c: char) -> Option<Sym> {
    if c.is_ascii_digit() {
        return Some(Sym::Digit { value: c as u8 - b'0', arabic: true });
    }
    let (code, value) = SLOT_TABLE[(c as u32 % SLOTS) as usize];
    (code == c as u32).then_some(value)
}

/// Whether `c` is a numeral of [`sym`].
#[inline]
pub(crate) fn is_numeral(c: char) -> bool {
    sym(c).is_some()
}

/// Whether `c` is a Chinese numeral (not an ASCII digit).
#[inline]
fn is_chinese_numeral(c: char) -> bool {
    matches!(sym(c), Some(Sym::Digit { arabic: false, .. } | Sym::Unit(_)))
}

/// A decimal value: `mantissa / 10^scale`, with no trailing zero in the mantissa when
/// `scale > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decimal {
    pub mantissa: u128,
    pub scale: u8,
}

impl Decimal {
    fn whole(n: u128) -> Decimal {
        Decimal { mantissa: n, scale: 0 }
    }

    /// Multiplies by `10^power`, `None` on overflow.
    fn times_ten_to(self, power: u8) -> Option<Decimal> {
        let (mut mantissa, mut scale, mut power) = (self.mantissa, self.scale, power);
        while power > 0 && scale > 0 {
            power -= 1;
            scale -= 1;
        }
        mantissa = mantissa.checked_mul(10u128.checked_pow(u32::from(power))?)?;
        Some(Decimal { mantissa, scale }.reduced())
    }

    fn reduced(mut self) -> Decimal {
        while self.scale > 0 && self.mantissa.is_multiple_of(10) {
            self.mantissa /= 10;
            self.scale -= 1;
        }
        self
    }

    /// The value when it is a whole number.
    pub fn integer(self) -> Option<u128> {
        (self.scale == 0).then_some(self.mantissa)
    }

    /// The value in hundredths when it has at most two decimals.
    pub fn hundredths(self) -> Option<u128> {
        match self.scale {
            0 => self.mantissa.checked_mul(100),
            1 => self.mantissa.checked_mul(10),
            2 => Some(self.mantissa),
            _ => None,
        }
    }
}

/// How a number was said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Digits only, read one by one ("幺三八八", "1388", "二零二六"); its characters are
    /// its digits, leading zeros included.
    Digits,
    /// A count with units ("一千零五十", "三千五", "3千5", "十五"), whole.
    Count,
    /// A decimal, with or without a unit after it ("1.5", "1.5万", "一点五万", "三点五元").
    Decimal,
}

/// One number of an utterance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Num {
    /// Its characters, `start..end` (indices into [`Utterance::chars`]).
    pub start: usize,
    pub end: usize,
    /// `None` only for a digit string too long for a `u128`.
    pub value: Option<Decimal>,
    pub shape: Shape,
    /// "八百多", "十几", "两三千", "三四天": a rough number, read as its lower bound.
    pub approx: bool,
}

impl Num {
    /// The value when it is a whole number.
    pub fn integer(&self) -> Option<u128> {
        self.value.and_then(Decimal::integer)
    }

    /// The value as a small whole number (a day, an hour, a minute), not a rough one.
    pub fn small(&self, max: u32) -> Option<u32> {
        let n = self.integer()?;
        (!self.approx && n <= u128::from(max)).then_some(n as u32)
    }

    /// Whether its first digit is a 0 ("零五", "05").
    pub fn leading_zero(&self, u: &Utterance) -> bool {
        self.shape == Shape::Digits && matches!(sym(u.at(self.start)), Some(Sym::Digit { value: 0, .. }))
    }

    /// Writes the number in ASCII digits: a digit string digit by digit (leading zeros
    /// kept), a count or a decimal as its value ("一千零五十" → 1050, "一点五万" → 15000,
    /// "三点五元" → 3.5, "八百多" → 800).
    pub fn write_digits(&self, u: &Utterance, out: &mut String) {
        match (self.shape, self.value) {
            (Shape::Digits, _) | (_, None) => {
                for &c in &u.chars[self.start..self.end] {
                    if let Some(Sym::Digit { value, .. }) = sym(c) {
                        out.push(char::from(b'0' + value));
                    }
                }
            }
            (_, Some(Decimal { mantissa, scale })) => {
                let digits = mantissa.to_string();
                let scale = usize::from(scale);
                if scale == 0 {
                    out.push_str(&digits);
                } else {
                    let padded = format!("{digits:0>width$}", width = scale + 1);
                    let (whole, frac) = padded.split_at(padded.len() - scale);
                    let _ = write!(out, "{whole}.{frac}");
                }
            }
        }
    }
}

/// A word that holds numerals without being a number: the numerals in it are not read.
///
/// It does not count where a numeral at its edge is glued to another numeral ("一万一" is
/// 11000, not 一 + 万一; "十一下午" holds 十一), nor before a character of `unless_before`
/// or after one of `unless_after`.
struct NotANumber {
    word: &'static str,
    unless_before: &'static str,
    unless_after: &'static str,
}

const fn word(word: &'static str) -> NotANumber {
    NotANumber { word, unless_before: "", unless_after: "" }
}

/// Words whose numerals are not numbers (§11: 一下 一起 一般 一定 一直 一样 万一 统一 一会儿
/// 不一定 一点儿, and more of the same kind). Adverbs, idioms and names said every day on
/// the phone; a lone 一 before a verb ("一发工资就还") is handled by [`lone_yi_counts`].
static NOT_NUMBERS: &[NotANumber] = &[
    word("一下"),
    word("一起"),
    word("一般"),
    word("一定"),
    word("一直"),
    word("一样"),
    word("一些"),
    word("一切"),
    word("一共"),
    word("一半"),
    word("一会"),
    word("一边"),
    word("一面"),
    word("一旦"),
    word("一向"),
    word("一律"),
    word("一致"),
    word("一再"),
    word("一时"),
    word("一阵"),
    word("一路"),
    word("一齐"),
    word("一同"),
    word("一早"),
    word("一心"),
    word("一概"),
    word("一贯"),
    word("一并"),
    word("一味"),
    word("一番"),
    word("一旁"),
    word("一生"),
    word("一辈子"),
    word("一连"),
    word("一经"),
    word("一口气"),
    word("一块儿"),
    word("一点儿"),
    word("一点点"),
    word("一点一点"),
    word("一模"),
    word("一言为定"),
    word("一五一十"),
    word("一清二楚"),
    word("一干二净"),
    word("一天到晚"),
    word("一次性"),
    word("一分钱都"),
    word("一分钱也"),
    word("一毛钱都"),
    word("一毛钱也"),
    word("一分都"),
    word("一分也"),
    word("一毛都"),
    word("一毛也"),
    word("万一"),
    word("统一"),
    word("唯一"),
    word("之一"),
    word("同一"),
    word("逐一"),
    word("独一无二"),
    word("九牛一毛"),
    word("三心二意"),
    word("接二连三"),
    word("三番五次"),
    word("丢三落四"),
    word("不三不四"),
    word("乱七八糟"),
    word("三天两头"),
    word("七上八下"),
    word("七嘴八舌"),
    word("五花八门"),
    word("十全十美"),
    word("十有八九"),
    NotANumber { word: "十分", unless_before: "钟", unless_after: "点點" },
    word("十足"),
    word("万分"),
    word("万万"),
    word("千万"),
    word("百分之百"),
    word("百分之"),
    word("百姓"),
    word("百货"),
    word("百度"),
    word("千金"),
    word("万事"),
    word("万岁"),
    word("四处"),
    word("四周"),
    word("四川"),
    word("三星"),
    word("二手"),
    word("八卦"),
];

/// [`NOT_NUMBERS`] sorted by their first two characters, for a binary search.
static NOT_NUMBER_INDEX: LazyLock<Vec<((char, char), &'static NotANumber)>> = LazyLock::new(|| {
    let mut index: Vec<((char, char), &'static NotANumber)> = NOT_NUMBERS
        .iter()
        .map(|entry| {
            let mut chars = entry.word.chars();
            ((chars.next().unwrap_or('\0'), chars.next().unwrap_or('\0')), entry)
        })
        .collect();
    index.sort_by_key(|&(key, _)| key);
    index
});

/// The words of [`NOT_NUMBERS`] that start with `first` and `second`.
fn not_numbers_from(first: char, second: char) -> impl Iterator<Item = &'static NotANumber> {
    let index = &*NOT_NUMBER_INDEX;
    let from = index.partition_point(|&(key, _)| key < (first, second));
    index[from..].iter().take_while(move |&&(key, _)| key == (first, second)).map(|&(_, entry)| entry)
}

/// The longest word of [`NOT_NUMBERS`], in characters.
const NOT_NUMBER_MAX: usize = 4;

/// Words that name a week ("周一" is Monday, not a number).
const WEEK_WORDS: &[(&str, ())] = &[("星期", ()), ("礼拜", ()), ("禮拜", ()), ("周", ()), ("週", ())];

/// Marks the numerals that are not numbers: those of [`NOT_NUMBERS`] and the day of a
/// weekday (周一, 星期三, 礼拜天). `blocked` is sized to the utterance at the first mark.
fn mark_not_numbers(u: &Utterance, blocked: &mut Vec<bool>) {
    let n = u.len();
    let mut block = |i: usize| {
        if blocked.is_empty() {
            blocked.resize(n, false);
        }
        blocked[i] = true;
    };
    let mut next_start = 0;
    for i in 0..n {
        if !is_chinese_numeral(u.chars[i]) {
            continue;
        }
        // Words that may hold this numeral start at most NOT_NUMBER_MAX - 1 characters before.
        let from = i.saturating_sub(NOT_NUMBER_MAX - 1).max(next_start);
        for s in from..=i {
            for entry in not_numbers_from(u.at(s), u.at(s + 1)) {
                if !u.has(s, entry.word) {
                    continue;
                }
                let len = entry.word.chars().count();
                let (first, last) = (u.at(s), u.at(s + len - 1));
                let before = u.before(s);
                let after = u.at(s + len);
                if (is_numeral(first) && is_numeral(before))
                    || (is_numeral(last) && is_numeral(after))
                    || entry.unless_before.contains(after)
                    || entry.unless_after.contains(before)
                {
                    continue;
                }
                for k in s..s + len {
                    if is_numeral(u.at(k)) {
                        block(k);
                    }
                }
            }
        }
        next_start = i + 1;
    }
    // Weekdays: the day after 周/星期/礼拜 ("周一", "周一三点"; not "周一次", "周五千").
    for i in 0..n {
        if !matches!(u.chars[i], '星' | '礼' | '禮' | '周' | '週') {
            continue;
        }
        let Some((len, ())) = u.first_of(i, WEEK_WORDS) else { continue };
        let day = i + len;
        if matches!(sym(u.at(day)), Some(Sym::Digit { value: 1..=7, .. }))
            && !matches!(sym(u.at(day + 1)), Some(Sym::Unit(_)))
            && !"次遍回趟".contains(u.at(day + 1))
        {
            block(day);
        }
    }
}

/// What may follow a lone 一 that is the number 1: measure words, units and particles
/// ("一个", "一块钱", "一号", "一次", "一吧"); anything else makes it a word ("一发工资就还",
/// "一到账", "一有钱").
const AFTER_LONE_YI: &str = "十百千万亿个块元圆毛角分号日月年天周星次期笔岁位张台遍倍成折级档颗条项件份种段层楼票套声把间辆本只双对口趟圈小刻秒%吧啊呀嘛呢哦哈嗯了啦呗";

/// Day parts and days before which 一点 is one o'clock, not "a little".
const BEFORE_ONE_OCLOCK: &[&str] = &[
    "上午", "下午", "中午", "晚上", "凌晨", "早上", "早晨", "半夜", "夜里", "深夜", "今天", "明天", "后天", "今晚",
    "明晚",
];

/// After 点, what makes a lone 一点 one o'clock in a number scan: 一点钟, 一点半, 一点十分,
/// 一点左右, 一点以后.
const AFTER_ONE_OCLOCK: &[&str] = &["钟", "半", "整", "刻", "左右", "以后", "之后", "以前", "之前", "前", "后"];

/// Whether a lone 一 at `i` (a numeral run of that one character) is the number 1.
fn lone_yi_counts(u: &Utterance, i: usize) -> bool {
    let next = u.at(i + 1);
    if u.before(i) == '第' {
        return true;
    }
    if next == '点' || next == '點' {
        // 一点: one o'clock in a time context, else "a little" ("有一点", "快一点").
        let prev_two: String = [u.before(i.saturating_sub(1)), u.before(i)].iter().collect();
        return (i >= 2 && BEFORE_ONE_OCLOCK.contains(&prev_two.as_str()))
            || is_numeral(u.at(i + 2))
            || AFTER_ONE_OCLOCK.iter().any(|w| u.has(i + 2, w));
    }
    next == '\0' || is_separator(next) || AFTER_LONE_YI.contains(next)
}

/// What may follow two neighbouring digits read as a range ("三四天", "一两个").
const AFTER_RANGE: &str = "个块元天次年月周期岁位张遍倍家件条号点分";

/// Buffers of [`scan_into`], kept between calls.
#[derive(Default)]
pub(crate) struct ScanBuffers {
    /// Numerals that are not numbers; left empty when there are none.
    blocked: Vec<bool>,
    /// The run being read: each piece with the index of its character.
    pieces: Vec<(Piece, usize)>,
}

/// The numbers of an utterance, in order.
#[cfg(test)]
pub(crate) fn scan(u: &Utterance) -> Vec<Num> {
    let mut nums = Vec::new();
    scan_into(u, &mut nums, &mut ScanBuffers::default());
    nums
}

/// The numbers of an utterance, in order, into `nums` (cleared first).
pub(crate) fn scan_into(u: &Utterance, nums: &mut Vec<Num>, buffers: &mut ScanBuffers) {
    nums.clear();
    let n = u.len();
    let Some(first) = u.chars.iter().position(|&c| is_numeral(c)) else { return };
    let ScanBuffers { blocked, pieces } = buffers;
    blocked.clear();
    mark_not_numbers(u, blocked);
    let blocked = &*blocked;
    let numeral = |i: usize| i < n && !blocked.get(i).copied().unwrap_or(false) && is_numeral(u.chars[i]);
    let mut i = first;
    while i < n {
        if !numeral(i) {
            i += 1;
            continue;
        }
        let start = i;
        pieces.clear();
        let mut point = false;
        while i < n {
            let c = u.chars[i];
            if numeral(i) {
                pieces.push((Piece::Sym(sym(c).unwrap_or(Sym::Unit(1))), i));
                i += 1;
                continue;
            }
            let last = pieces.last().map(|&(p, _)| p);
            let last_arabic = matches!(last, Some(Piece::Sym(Sym::Digit { arabic: true, .. })));
            // 1.5, 1200.50: a point between ASCII digits (not a dotted date 2026.12.01).
            let after_dot = start >= 2 && u.before(start) == '.' && u.before(start - 1).is_ascii_digit();
            if c == '.' && last_arabic && !point && !after_dot && u.at(i + 1).is_ascii_digit() {
                let mut j = i + 1;
                while u.at(j).is_ascii_digit() {
                    j += 1;
                }
                if !(u.at(j) == '.' && u.at(j + 1).is_ascii_digit()) {
                    point = true;
                    pieces.push((Piece::Point, i));
                    i += 1;
                    continue;
                }
                break;
            }
            // 1,200: a thousands comma before exactly three ASCII digits.
            if c == ',' && last_arabic && (1..=3).all(|k| u.at(i + k).is_ascii_digit()) && !u.at(i + 4).is_ascii_digit()
            {
                i += 1;
                continue;
            }
            // 一点五万, 三点五元: 点 between numerals is a decimal point when digits follow
            // it and then 千, 万, 亿 or a currency.
            if (c == '点' || c == '點') && !point && last != Some(Piece::Approx) {
                let mut j = i + 1;
                while numeral(j) && matches!(sym(u.chars[j]), Some(Sym::Digit { .. })) {
                    j += 1;
                }
                // 一点五万, not 三点五十 (half past three's 五十 minutes).
                let unit_after = numeral(j) && matches!(sym(u.chars[j]), Some(Sym::Unit(3..)));
                if j > i + 1 && (unit_after || "元块倍%".contains(u.at(j))) {
                    pieces.push((Piece::Point, i));
                    for k in i + 1..j {
                        pieces.push((Piece::Sym(sym(u.chars[k]).unwrap_or(Sym::Unit(1))), k));
                    }
                    i = j;
                    if unit_after {
                        pieces.push((Piece::Sym(sym(u.chars[j]).unwrap_or(Sym::Unit(1))), j));
                        i = j + 1;
                    }
                }
                break;
            }
            // 八百多, 十几, 十多万: rough counts after a unit.
            if (c == '多' || c == '几') && matches!(last, Some(Piece::Sym(Sym::Unit(_)))) {
                pieces.push((Piece::Approx, i));
                i += 1;
                if !(numeral(i) && matches!(sym(u.chars[i]), Some(Sym::Unit(4 | 8)))) {
                    break;
                }
                continue;
            }
            break;
        }
        read_run(u, start, i, pieces, nums);
    }
}

/// A piece of a numeral run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    Sym(Sym),
    /// A decimal point (`.` or 点).
    Point,
    /// 多 or 几 after a unit.
    Approx,
}

/// Reads the run `start..end` (its pieces, each with its character's index) into numbers.
fn read_run(u: &Utterance, start: usize, end: usize, run: &[(Piece, usize)], nums: &mut Vec<Num>) {
    let has = |wanted: fn(Piece) -> bool| run.iter().any(|&(p, _)| wanted(p));
    if has(|p| p == Piece::Point) {
        if let Some(value) = decimal(run) {
            nums.push(Num { start, end, value: Some(value), shape: Shape::Decimal, approx: false });
        }
        // A malformed decimal ("1.5万3千") is no number at all.
        return;
    }
    if !has(|p| matches!(p, Piece::Sym(Sym::Unit(_)) | Piece::Approx)) {
        // Digits only.
        if end - start == 1 && u.chars[start] == '一' && !lone_yi_counts(u, start) {
            return;
        }
        let digit = |k: usize| match run.get(k) {
            Some((Piece::Sym(Sym::Digit { value, .. }), _)) => *value,
            _ => 0,
        };
        // 三四天, 一两个, 三五天: two close Chinese digits before a measure word are a range.
        if end - start == 2
            && run.len() == 2
            && !u.chars[start..end].iter().any(|c| c.is_ascii_digit() || *c == '幺')
            && digit(0) > 0
            && (digit(0) + 1..=digit(0) + 2).contains(&digit(1))
            && AFTER_RANGE.contains(u.at(end))
        {
            let value = Some(Decimal::whole(u128::from(digit(0))));
            nums.push(Num { start, end, value, shape: Shape::Count, approx: true });
            return;
        }
        let value = digit_value(run);
        nums.push(Num { start, end, value: value.map(Decimal::whole), shape: Shape::Digits, approx: false });
        return;
    }
    if let Some((value, approx)) = count(run) {
        nums.push(Num { start, end, value: Some(Decimal::whole(value)), shape: Shape::Count, approx });
        return;
    }
    // Not well formed ("十十", "一三八万", "百五十"): each group of digits is a number read
    // digit by digit; the units and 多/几 stay words.
    let mut group: Option<usize> = None; // index into `run` of the group's first piece
    for (k, &(piece, _)) in run.iter().enumerate() {
        let is_digit = matches!(piece, Piece::Sym(Sym::Digit { .. }));
        match (is_digit, group) {
            (true, None) => group = Some(k),
            (false, Some(g)) => {
                read_run(u, run[g].1, run[k].1, &run[g..k], nums);
                group = None;
            }
            _ => {}
        }
    }
    if let Some(g) = group {
        read_run(u, run[g].1, end, &run[g..], nums);
    }
}

/// A decimal run: a whole part (digits or a count), a point, digits, and at most one unit
/// after them ("1.5万", "一点五万", "十二点五亿").
fn decimal(pieces: &[(Piece, usize)]) -> Option<Decimal> {
    let point = pieces.iter().position(|&(p, _)| p == Piece::Point)?;
    let (whole, rest) = (&pieces[..point], &pieces[point + 1..]);
    let whole_value = if whole.iter().any(|(p, _)| matches!(p, Piece::Sym(Sym::Unit(_)))) {
        let (value, approx) = count(whole)?;
        if approx {
            return None;
        }
        value
    } else {
        digit_value(whole)?
    };
    let (frac, unit) = match rest.last() {
        Some((Piece::Sym(Sym::Unit(p)), _)) => (&rest[..rest.len() - 1], *p),
        _ => (rest, 0),
    };
    if frac.is_empty() || frac.len() > 30 {
        return None;
    }
    let frac_value = digit_value(frac)?;
    let scale = u8::try_from(frac.len()).ok()?;
    let mantissa = whole_value.checked_mul(10u128.checked_pow(u32::from(scale))?)?.checked_add(frac_value)?;
    Decimal { mantissa, scale }.reduced().times_ten_to(unit)
}

/// The value of pieces that are all digits, `None` otherwise or on overflow.
fn digit_value(pieces: &[(Piece, usize)]) -> Option<u128> {
    if pieces.is_empty() {
        return None;
    }
    pieces.iter().try_fold(0u128, |acc, (p, _)| match p {
        Piece::Sym(Sym::Digit { value, .. }) => acc.checked_mul(10)?.checked_add(u128::from(*value)),
        _ => None,
    })
}

/// The value of a count with units, and whether it is rough; `None` when not well formed.
///
/// Grouping by 万 and 亿 as the `number` filter reads (`一亿亿` is 10^16, and the part
/// before a 亿 may hold 亿s of its own), 零 between parts, 十 without its 一 ("十五",
/// "一百十五"), and the spoken short forms in which a last digit counts the unit below
/// the one before it ("三千五" 3500, "一万二" 12000, "两百五" 250, "一亿五" 150000000;
/// "一千零五" is 1005). Units descend within a part. ASCII digits stand for the same digits
/// ("3千5", "35万", "1万2"). Rough counts keep their lower bound: "八百多" 800,
/// "十几万" 100000, "两三千" 2000, "十二三" 12.
fn count(pieces: &[(Piece, usize)]) -> Option<(u128, bool)> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Prev {
        Start,
        Zero,
        Digit,
        Unit(u8),
        Approx,
    }
    let mut acc: u128 = 0; // everything up to the last 亿, multiplied out
    let mut wan: u128 = 0; // the 万 part since the last 亿
    let mut section: u128 = 0; // below 万
    let mut pending: Option<(u128, usize)> = None; // a number waiting for its unit, and its digits
    let mut before_pending = Prev::Start;
    let mut prev = Prev::Start;
    let mut last_small: u8 = 4; // 十 百 千 descend within a section
    let mut seen_wan = false;
    let mut approx = false;
    let mut i = 0;
    while i < pieces.len() {
        match pieces[i].0 {
            Piece::Point => return None,
            Piece::Approx => {
                if !matches!(prev, Prev::Unit(_)) {
                    return None;
                }
                approx = true;
                // "十多万": the unit before 多 still takes the next one.
                if !matches!(pieces.get(i + 1), Some((Piece::Sym(Sym::Unit(4 | 8)), _))) {
                    prev = Prev::Approx;
                }
            }
            Piece::Sym(Sym::Digit { value, arabic: true }) => {
                // A group of ASCII digits is one number ("35万").
                let mut n = u128::from(value);
                let mut digits = 1;
                while let Some((Piece::Sym(Sym::Digit { value, arabic: true }), _)) = pieces.get(i + 1) {
                    n = n.checked_mul(10)?.checked_add(u128::from(*value))?;
                    digits += 1;
                    i += 1;
                }
                if pending.is_some() || prev == Prev::Approx {
                    return None;
                }
                pending = Some((n, digits));
                before_pending = prev;
                prev = Prev::Digit;
            }
            Piece::Sym(Sym::Digit { value: 0, arabic: false }) => {
                if pending.is_some() || prev == Prev::Start {
                    return None;
                }
                prev = Prev::Zero;
            }
            Piece::Sym(Sym::Digit { value, arabic: false }) => {
                let d = u128::from(value);
                if let Some((p, _)) = pending {
                    // 两三千, 十二三, 三五百: a second digit above the first makes a range.
                    let range = !approx && d > p;
                    if !range {
                        return None;
                    }
                    approx = true;
                } else {
                    if prev == Prev::Approx {
                        return None;
                    }
                    pending = Some((d, 1));
                    before_pending = prev;
                    prev = Prev::Digit;
                }
            }
            Piece::Sym(Sym::Unit(p @ 1..=3)) => {
                if p >= last_small {
                    return None;
                }
                let n = match pending.take() {
                    Some((n, _)) if n <= 9 => n,
                    Some(_) => return None,
                    None if p == 1 && prev != Prev::Zero && prev != Prev::Approx => 1,
                    None => return None,
                };
                section += n * 10u128.pow(u32::from(p));
                last_small = p;
                prev = Prev::Unit(p);
            }
            Piece::Sym(Sym::Unit(4)) => {
                let n = section + pending.take().map_or(0, |(n, _)| n);
                if seen_wan || n == 0 || n > 9999 {
                    return None;
                }
                wan = n * 10_000;
                section = 0;
                last_small = 4;
                seen_wan = true;
                prev = Prev::Unit(4);
            }
            Piece::Sym(Sym::Unit(_)) => {
                let n =
                    acc.checked_add(wan)?.checked_add(section)?.checked_add(pending.take().map_or(0, |(n, _)| n))?;
                if n == 0 {
                    return None;
                }
                acc = n.checked_mul(100_000_000)?;
                wan = 0;
                section = 0;
                last_small = 4;
                seen_wan = false;
                prev = Prev::Unit(8);
            }
        }
        i += 1;
    }
    let mut total = acc.checked_add(wan)?.checked_add(section)?;
    if let Some((n, digits)) = pending {
        let add = match before_pending {
            // "三千五": one digit right after a unit counts the unit below it.
            Prev::Unit(p) if digits == 1 => n.checked_mul(10u128.pow(u32::from(p - 1)))?,
            // "1万25", "一千零五": as said, below the unit before it.
            Prev::Unit(p) if n < 10u128.pow(u32::from(p)) => n,
            Prev::Zero | Prev::Start => n,
            _ => return None,
        };
        total = total.checked_add(add)?;
    }
    Some((total, approx))
}

/// Reads the numerals of `text` as ASCII digits, for §6's regexes that ask for digits:
/// every number of [`scan`] is written as [`Num::write_digits`] does, everything else (words
/// whose numerals are not numbers, such as 一下 万一 一点儿, included) is copied.
///
/// Writes into `out` (cleared first) and returns true when `text` holds a Chinese numeral;
/// otherwise leaves `out` empty and returns false (the reading would be `text` itself).
pub fn numerals_into(text: &str, out: &mut String) -> bool {
    out.clear();
    if !text.chars().any(is_chinese_numeral) {
        return false;
    }
    super::read(text, |u, nums| {
        // The byte offset of character `i`, walked forward once (the numbers come in order).
        let mut chars = text.chars();
        let (mut index, mut byte) = (0usize, 0usize);
        let mut byte_of = |i: usize| {
            while index < i {
                let Some(c) = chars.next() else { break };
                byte += c.len_utf8();
                index += 1;
            }
            byte
        };
        let mut copied = 0; // bytes of `text` already handled
        for num in nums {
            let start = byte_of(num.start);
            let end = byte_of(num.end);
            out.push_str(&text[copied..start]);
            let said = &text[start..end];
            if said.bytes().all(|b| b.is_ascii_digit()) {
                out.push_str(said);
            } else {
                num.write_digits(u, out);
            }
            copied = end;
        }
        out.push_str(&text[copied..]);
    });
    true
}

/// [`numerals_into`] into a new string: "尾号幺三八八" → "尾号1388", "一千零五十" → "1050",
/// "你等一下" unchanged.
pub fn numerals_to_digits(text: &str) -> String {
    let mut out = String::new();
    if numerals_into(text, &mut out) { out } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<String> {
        let u = Utterance::new(text);
        scan(&u)
            .iter()
            .map(|n| {
                let mut s = String::new();
                n.write_digits(&u, &mut s);
                if n.approx {
                    s.push('~');
                }
                s
            })
            .collect()
    }

    #[test]
    fn counts() {
        for (text, expected) in [
            ("十", "10"),
            ("十五", "15"),
            ("二十", "20"),
            ("一百零五", "105"),
            ("一百十五", "115"),
            ("三百五", "350"),
            ("一千二", "1200"),
            ("一千零二", "1002"),
            ("一千零五十", "1050"),
            ("一万二", "12000"),
            ("一万二千五", "12500"),
            ("十万五", "105000"),
            ("两万五千", "25000"),
            ("一万零五百", "10500"),
            ("一亿五", "150000000"),
            ("一万亿", "1000000000000"),
            ("一亿亿", "10000000000000000"),
            ("拾伍", "15"),
            ("3千5", "3500"),
            ("35万", "350000"),
            ("1万2", "12000"),
            ("1万25", "10025"),
            ("3500万", "35000000"),
            ("二十五", "25"),
            ("一百", "100"),
            ("一百一十五", "115"),
            ("一千二百三十四", "1234"),
            ("两千", "2000"),
            ("一万", "10000"),
            ("十万", "100000"),
            ("一百二十万", "1200000"),
            ("三亿", "300000000"),
        ] {
            assert_eq!(read(text), [expected], "{text}");
        }
    }

    #[test]
    fn rough_counts() {
        for (text, expected) in [
            ("八百多", "800~"),
            ("十几", "10~"),
            ("十多万", "100000~"),
            ("两三千", "2000~"),
            ("十二三", "12~"),
            ("三四十万", "300000~"),
            ("一千二三百", "1200~"),
            ("三五百", "300~"),
        ] {
            assert_eq!(read(text), [expected], "{text}");
        }
        assert_eq!(read("三四天"), ["3~"]);
        assert_eq!(read("一两个"), ["1~"]);
        assert_eq!(read("三五天"), ["3~"]);
        assert_eq!(read("三四"), ["34"], "no measure word: digits");
        assert_eq!(read("多少"), Vec::<String>::new());
    }

    #[test]
    fn decimals() {
        assert_eq!(read("1.5万"), ["15000"]);
        assert_eq!(read("一点五万"), ["15000"]);
        assert_eq!(read("十二点五亿"), ["1250000000"]);
        assert_eq!(read("三点五元"), ["3.5"]);
        assert_eq!(read("1200.50"), ["1200.5"]);
        assert_eq!(read("0.05"), ["0.05"]);
        assert_eq!(read("1,200元"), ["1200"]);
        assert_eq!(read("三点五"), ["3", "5"], "no unit after: a time or a bare number");
        assert_eq!(read("2026.12.01"), ["2026", "12", "01"]);
    }

    #[test]
    fn words_that_are_not_numbers() {
        for text in [
            "你等一下",
            "一起去",
            "一般般",
            "一定还",
            "一直打",
            "一样的",
            "万一还不上",
            "统一",
            "一会儿",
            "不一定",
            "一点儿",
            "有一点",
            "快一点",
            "一半",
            "一发工资就还",
            "十分感谢",
            "千万别打",
            "周一",
            "星期三",
            "礼拜六",
            "乱七八糟",
        ] {
            assert_eq!(read(text), Vec::<String>::new(), "{text}");
        }
        assert_eq!(read("一万一"), ["11000"]);
        assert_eq!(read("十一下午"), ["11"]);
        assert_eq!(read("三点十分"), ["3", "10"]);
        assert_eq!(read("十分钟"), ["10"]);
        assert_eq!(read("一千万"), ["10000000"]);
        assert_eq!(read("下午一点"), ["1"]);
        assert_eq!(read("一点半"), ["1"]);
        assert_eq!(read("一个"), ["1"]);
        assert_eq!(read("第一"), ["1"]);
        assert_eq!(read("一"), ["1"]);
        assert_eq!(read("每周一次"), ["1"]);
        assert_eq!(read("一块儿"), Vec::<String>::new());
        assert_eq!(read("一块钱"), ["1"]);
    }

    #[test]
    fn malformed_runs_fall_back_to_digit_groups() {
        assert_eq!(read("十十"), Vec::<String>::new());
        assert_eq!(read("一三八万"), ["138"]);
        assert_eq!(read("百五十"), ["5"]);
        assert_eq!(read("一百五零"), ["1", "50"]);
        assert_eq!(read("一万一万"), ["1", "1"]);
    }

    #[test]
    fn numerals_for_regexes() {
        assert_eq!(numerals_to_digits("幺三八八"), "1388");
        assert_eq!(numerals_to_digits("二零二六年"), "2026年");
        assert_eq!(numerals_to_digits("〇两九"), "029");
        assert_eq!(numerals_to_digits("尾号是一三八八"), "尾号是1388");
        assert_eq!(numerals_to_digits("壹贰叁"), "123");
        assert_eq!(numerals_to_digits("1388"), "1388");
        assert_eq!(numerals_to_digits("没有数字"), "没有数字");
        assert_eq!(numerals_to_digits(""), "");
        assert_eq!(numerals_to_digits("逾期十五天"), "逾期15天");
        assert_eq!(numerals_to_digits("一九九八年十二月三十一号"), "1998年12月31号");
        assert_eq!(numerals_to_digits("还一千二百块"), "还1200块");
        assert_eq!(numerals_to_digits("1.5万"), "15000");
        assert_eq!(numerals_to_digits("你等一下"), "你等一下");
        assert_eq!(numerals_to_digits("万一还不上"), "万一还不上");
        assert_eq!(numerals_to_digits("先还一半"), "先还一半");
        assert_eq!(numerals_to_digits("一点五"), "1点5");
        let mut out = String::from("stale");
        assert!(!numerals_into("1388", &mut out));
        assert!(out.is_empty());
        assert!(numerals_into("一下", &mut out));
        assert_eq!(out, "一下");
    }

    #[test]
    fn not_numbers_hold_numerals_and_fit_the_window() {
        for entry in NOT_NUMBERS {
            let len = entry.word.chars().count();
            assert!((2..=NOT_NUMBER_MAX).contains(&len), "{}", entry.word);
            assert!(entry.word.chars().any(is_chinese_numeral), "{}", entry.word);
        }
    }

    #[test]
    fn sym_table() {
        let listed = "零〇一幺壹二两兩贰貳三叁四肆五伍六陆陸七柒八捌九玖十拾百佰千仟万萬亿億0123456789";
        for code in 0..=0x10_FFFFu32 {
            let Some(c) = char::from_u32(code) else { continue };
            assert_eq!(sym(c).is_some(), listed.contains(c), "{c:?}");
        }
    }
}
