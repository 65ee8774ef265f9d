//! Charts for e-mails: small PNGs drawn with plotters' primitives (no text in the image, so no
//! font is needed; the e-mail says what the axes are).

use plotters::prelude::*;

/// One bin of a chart: the observed value and what was expected.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bin {
    /// Start of the bin, seconds since the epoch.
    pub t: i64,
    pub observed: f64,
    pub expected: f64,
    /// Whether the bin lies in the alert window (drawn darker).
    #[serde(default)]
    pub highlight: bool,
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 200;
const PAD: i32 = 8;

/// Bars of observed counts over a band of expected counts (expected ± 2 Poisson standard
/// deviations) and a line of the expectation. Returns a PNG.
pub fn spike_chart(bins: &[Bin]) -> Result<Vec<u8>, String> {
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        if !bins.is_empty() {
            let band_hi = |e: f64| e + 2.0 * e.max(0.0).sqrt();
            let top = bins
                .iter()
                .map(|b| b.observed.max(band_hi(b.expected)))
                .fold(1.0f64, f64::max)
                * 1.1;
            let n = bins.len() as i32;
            let plot_w = WIDTH as i32 - 2 * PAD;
            let plot_h = HEIGHT as i32 - 2 * PAD;
            let x = |i: i32| PAD + plot_w * i / n;
            let y = |v: f64| PAD + plot_h - ((v / top) * plot_h as f64).round() as i32;
            let axis = RGBColor(200, 200, 200);
            root.draw(&PathElement::new(
                vec![(PAD, y(0.0)), (WIDTH as i32 - PAD, y(0.0))],
                axis.stroke_width(1),
            ))
            .map_err(|e| e.to_string())?;
            // Expected band.
            let mut band: Vec<(i32, i32)> = Vec::with_capacity(bins.len() * 2 + 2);
            for (i, b) in bins.iter().enumerate() {
                let mid = (x(i as i32) + x(i as i32 + 1)) / 2;
                band.push((mid, y(band_hi(b.expected))));
            }
            for (i, b) in bins.iter().enumerate().rev() {
                let mid = (x(i as i32) + x(i as i32 + 1)) / 2;
                let lo = (b.expected - 2.0 * b.expected.max(0.0).sqrt()).max(0.0);
                band.push((mid, y(lo)));
            }
            root.draw(&Polygon::new(band, RGBColor(225, 230, 240).filled()))
                .map_err(|e| e.to_string())?;
            // Observed bars.
            for (i, b) in bins.iter().enumerate() {
                let color = if b.highlight {
                    RGBColor(200, 30, 30)
                } else {
                    RGBColor(235, 140, 130)
                };
                let (x0, x1) = (x(i as i32) + 1, (x(i as i32 + 1) - 1).max(x(i as i32) + 1));
                if b.observed > 0.0 {
                    root.draw(&Rectangle::new(
                        [(x0, y(b.observed)), (x1, y(0.0))],
                        color.filled(),
                    ))
                    .map_err(|e| e.to_string())?;
                }
            }
            // Expectation line.
            let line: Vec<(i32, i32)> = bins
                .iter()
                .enumerate()
                .map(|(i, b)| ((x(i as i32) + x(i as i32 + 1)) / 2, y(b.expected)))
                .collect();
            root.draw(&PathElement::new(
                line,
                RGBColor(60, 70, 90).stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    encode_png(&rgb, WIDTH, HEIGHT)
}

/// One bar of a trend chart: mentions by label, and the net sentiment (-100..100) if any
/// mention was scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendBar {
    pub positive: f64,
    pub neutral: f64,
    pub negative: f64,
    pub unscored: f64,
    pub net: Option<f64>,
}

/// Stacked bars of mentions (negative at the bottom, then neutral, positive, unscored) and a
/// line of net sentiment on its own scale (-100 at the bottom, +100 at the top, a light rule at
/// zero); the line is broken where a bar has no scored mention. Returns a PNG.
pub fn trend_chart(bars: &[TrendBar]) -> Result<Vec<u8>, String> {
    let mut rgb = vec![255u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        if !bars.is_empty() {
            let total = |b: &TrendBar| b.positive + b.neutral + b.negative + b.unscored;
            let top = bars.iter().map(total).fold(1.0f64, f64::max) * 1.1;
            let n = bars.len() as i32;
            let plot_w = WIDTH as i32 - 2 * PAD;
            let plot_h = HEIGHT as i32 - 2 * PAD;
            let x = |i: i32| PAD + plot_w * i / n;
            let y = |v: f64| PAD + plot_h - ((v / top) * plot_h as f64).round() as i32;
            let ny = |v: f64| PAD + plot_h - (((v + 100.0) / 200.0) * plot_h as f64).round() as i32;
            root.draw(&PathElement::new(
                vec![(PAD, ny(0.0)), (WIDTH as i32 - PAD, ny(0.0))],
                RGBColor(215, 215, 215).stroke_width(1),
            ))
            .map_err(|e| e.to_string())?;
            let gap = if plot_w / n > 6 { 1 } else { 0 };
            for (i, b) in bars.iter().enumerate() {
                let (x0, x1) = (
                    x(i as i32) + gap,
                    (x(i as i32 + 1) - gap).max(x(i as i32) + gap),
                );
                let mut base = 0.0;
                for (value, color) in [
                    (b.negative, RGBColor(205, 55, 55)),
                    (b.neutral, RGBColor(175, 182, 195)),
                    (b.positive, RGBColor(50, 155, 90)),
                    (b.unscored, RGBColor(225, 225, 225)),
                ] {
                    if value > 0.0 {
                        root.draw(&Rectangle::new(
                            [(x0, y(base + value)), (x1, y(base))],
                            color.filled(),
                        ))
                        .map_err(|e| e.to_string())?;
                        base += value;
                    }
                }
            }
            let mut segment: Vec<(i32, i32)> = Vec::new();
            let line = RGBColor(30, 60, 140).stroke_width(3);
            for (i, b) in bars.iter().enumerate() {
                let mid = (x(i as i32) + x(i as i32 + 1)) / 2;
                match b.net {
                    Some(v) => segment.push((mid, ny(v.clamp(-100.0, 100.0)))),
                    None => {
                        draw_segment(&root, &mut segment, line)?;
                    }
                }
            }
            draw_segment(&root, &mut segment, line)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    encode_png(&rgb, WIDTH, HEIGHT)
}

/// Draws a run of points as a line (a single point as a dot) and empties it.
fn draw_segment<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    points: &mut Vec<(i32, i32)>,
    style: ShapeStyle,
) -> Result<(), String> {
    match points.len() {
        0 => {}
        1 => root
            .draw(&Circle::new(points[0], 3, style.filled()))
            .map_err(|e| e.to_string())?,
        _ => root
            .draw(&PathElement::new(std::mem::take(points), style))
            .map_err(|e| e.to_string())?,
    }
    points.clear();
    Ok(())
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(rgb).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_pngs() {
        let bins: Vec<Bin> = (0..48)
            .map(|i| Bin {
                t: i * 1800,
                observed: if i > 44 { 40.0 } else { 5.0 + (i % 3) as f64 },
                expected: 6.0,
                highlight: i > 44,
            })
            .collect();
        let png = spike_chart(&bins).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(png.len() > 500);
        let bar = |p: f64, net: Option<f64>| TrendBar {
            positive: p,
            neutral: 2.0,
            negative: 1.0,
            unscored: 0.0,
            net,
        };
        let png =
            trend_chart(&[bar(3.0, Some(10.0)), bar(0.0, None), bar(8.0, Some(40.0))]).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
        assert!(trend_chart(&[]).is_ok());
        assert!(spike_chart(&[]).is_ok());
    }
}
