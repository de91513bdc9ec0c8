//! The HTML report's charts as SVG, drawn with `plotters` on its SVG backend: no fonts are
//! loaded and no script runs in the page (the page's CSS picks a CJK font for the text), so a
//! report is one file that works offline. Every bar carries its count and its percentage.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One bar: `value` of `base` (the percentage's denominator: attempts, connected calls…).
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: u64,
    pub base: u64,
}

impl Bar {
    pub fn new(label: impl Into<String>, value: u64, base: u64) -> Bar {
        Bar { label: label.into(), value, base }
    }

    /// `24 · 61.5%`.
    fn text(&self) -> String {
        format!("{} · {}", self.value, percent_of(self.value, self.base))
    }
}

/// `61.5%` of `value` over `base` (`0.0%` over nothing).
pub fn percent_of(value: u64, base: u64) -> String {
    let share = if base == 0 { 0.0 } else { value as f64 / base as f64 * 100.0 };
    format!("{share:.1}%")
}

const WIDTH: u32 = 760;
const LABEL_END: i32 = 250;
const BAR_START: i32 = 260;
const BAR_SPAN: f64 = 360.0;
/// The two sides of a comparison, and the single series of a plain chart.
const SIDES: [RGBColor; 2] = [RGBColor(47, 128, 237), RGBColor(242, 153, 74)];
const INK: RGBColor = RGBColor(31, 41, 51);
const GRID: RGBColor = RGBColor(203, 210, 217);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// An SVG of `width` × `height` drawn by `draw`.
fn svg(width: u32, height: u32, draw: impl FnOnce(&Area) -> Drawn) -> String {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        // Drawing to a string has no IO to fail and the SVG backend measures no font.
        draw(&root).and_then(|()| root.present()).expect("an SVG drawn in memory");
    }
    out
}

/// Text of `px` pixels (plotters' SVG backend writes a font size of the given size / 1.24).
fn text_style(px: f64, h: HPos) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", px * 1.24).into_font()).color(&INK).pos(Pos::new(h, VPos::Center))
}

/// A bar of `width` pixels at `y`, `height` high, and its text after it.
fn bar(area: &Area, y: i32, height: i32, width: i32, color: RGBColor, text: String) -> Drawn {
    area.draw(&Rectangle::new([(BAR_START, y), (BAR_START + width, y + height)], color.filled()))?;
    area.draw(&Text::new(text, (BAR_START + width + 6, y + height / 2), text_style(12.0, HPos::Left)))
}

fn width_of(value: u64, max: u64) -> i32 {
    (value as f64 / max.max(1) as f64 * BAR_SPAN).round() as i32
}

/// A horizontal bar chart: a label, a bar and `count · percent` per item; `(无)` for none.
pub fn bars(items: &[Bar]) -> String {
    let row = 24;
    let height = (items.len().max(1) as u32) * row + 8;
    let max = items.iter().map(|b| b.value).max().unwrap_or(0);
    svg(WIDTH, height, |area| {
        if items.is_empty() {
            return area.draw(&Text::new("(无)", (0, 14), text_style(12.0, HPos::Left)));
        }
        for (i, b) in items.iter().enumerate() {
            let y = i as i32 * row as i32 + 4;
            area.draw(&Text::new(b.label.clone(), (LABEL_END, y + 9), text_style(12.0, HPos::Right)))?;
            bar(area, y, 18, width_of(b.value, max), SIDES[0], b.text())?;
        }
        Ok(())
    })
}

/// Two bars per label, one per side of a comparison (`names` in the legend), each with its
/// count and its percentage of its own base. The bars' lengths are the percentages (a
/// campaign of 30 customers compares with one of 3000; two rates of different bases compare).
pub fn paired_bars(names: [&str; 2], rows: &[(String, [Bar; 2])]) -> String {
    let row = 40;
    let height = (rows.len().max(1) as u32) * row + 28;
    // Shares in per-mille, to scale like counts.
    let share = |b: &Bar| (b.value * 1000).checked_div(b.base).unwrap_or(0);
    let max = rows.iter().flat_map(|(_, pair)| pair.iter().map(share)).max().unwrap_or(0);
    svg(WIDTH, height, |area| {
        for (side, name) in names.iter().enumerate() {
            let x = BAR_START + side as i32 * 200;
            area.draw(&Rectangle::new([(x, 4), (x + 12, 16)], SIDES[side].filled()))?;
            area.draw(&Text::new(name.to_string(), (x + 18, 10), text_style(12.0, HPos::Left)))?;
        }
        for (i, (label, pair)) in rows.iter().enumerate() {
            let y = i as i32 * row as i32 + 28;
            area.draw(&Text::new(label.clone(), (LABEL_END, y + 16), text_style(12.0, HPos::Right)))?;
            for (side, b) in pair.iter().enumerate() {
                bar(area, y + side as i32 * 17, 15, width_of(share(b), max), SIDES[side], b.text())?;
            }
        }
        Ok(())
    })
}

/// A line per series over the days (the x axis's labels), with a dot per day and a legend.
pub fn trend(days: &[String], series: &[(String, Vec<u64>)]) -> String {
    let max = series.iter().flat_map(|(_, v)| v.iter().copied()).max().unwrap_or(0).max(1);
    let last = days.len().saturating_sub(1).max(1);
    svg(WIDTH, 300, |area| {
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .margin_right(48)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d(0..last, 0..max + max / 10 + 1)?;
        let label = |i: &usize| days.get(*i).cloned().unwrap_or_default();
        chart
            .configure_mesh()
            .x_labels(days.len().clamp(2, 12))
            .x_label_formatter(&label)
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .label_style(("sans-serif", 12.0 * 1.24).into_font().color(&INK))
            .draw()?;
        let palette = [SIDES[0], RGBColor(39, 174, 96), SIDES[1], RGBColor(155, 81, 224)];
        for ((name, values), color) in series.iter().zip(palette.iter().cycle()) {
            let color = *color;
            let points: Vec<(usize, u64)> = values.iter().copied().enumerate().collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
            chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .label_font(("sans-serif", 12.0 * 1.24).into_font().color(&INK))
            .draw()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each bar shows its count and its share of its base; labels are escaped.
    #[test]
    fn bars_carry_count_and_percentage() {
        let svg = bars(&[Bar::new("接通", 24, 39), Bar::new("<b>", 0, 0)]);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains(">\n接通\n</text>"), "{svg}");
        assert!(svg.contains("24 · 61.5%"), "{svg}");
        assert!(svg.contains("0 · 0.0%"), "{svg}");
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"), "{svg}");
    }

    #[test]
    fn a_trend_of_one_day_draws() {
        let svg = trend(&["2026-11-24".into()], &[("拨打".into(), vec![5])]);
        assert!(svg.contains("2026-11-24") && svg.contains("拨打"), "{svg}");
    }
}
