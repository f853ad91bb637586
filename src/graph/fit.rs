//! The SVG's canvas, fitted to what layout-rs draws. Its own writer sizes
//! the canvas from the origin and counts a label's length as its height,
//! so a drawing used to sit in a canvas ~40% empty. `Fit` passes every
//! shape on to layout-rs's writer and keeps the box that holds them all.

use layout::backends::svg::SVGWriter;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::Point;
use layout::core::style::StyleAttr;

/// Around the drawing, so strokes and arrow heads are not cut.
const MARGIN: f64 = 8.0;
/// A glyph's width in ems in the serif font layout-rs names: the text's
/// width is only known to the viewer, so this is an estimate.
const EM_WIDTH: f64 = 0.55;

pub(super) struct Fit {
    pub svg: SVGWriter,
    min: Point,
    max: Point,
}

impl Fit {
    pub fn new() -> Fit {
        Fit {
            svg: SVGWriter::new(),
            min: Point::new(f64::INFINITY, f64::INFINITY),
            max: Point::new(f64::NEG_INFINITY, f64::NEG_INFINITY),
        }
    }

    fn hold(&mut self, x0: f64, y0: f64, x1: f64, y1: f64) {
        self.min.x = self.min.x.min(x0.min(x1));
        self.min.y = self.min.y.min(y0.min(y1));
        self.max.x = self.max.x.max(x0.max(x1));
        self.max.y = self.max.y.max(y0.max(y1));
    }

    /// The box holding the drawing, with its margin: (x, y, width, height).
    pub fn frame(&self) -> (f64, f64, f64, f64) {
        if self.min.x > self.max.x {
            return (0.0, 0.0, 2.0 * MARGIN, 2.0 * MARGIN);
        }
        (
            self.min.x - MARGIN,
            self.min.y - MARGIN,
            self.max.x - self.min.x + 2.0 * MARGIN,
            self.max.y - self.min.y + 2.0 * MARGIN,
        )
    }

    /// Makes room below the drawing for `lines` lines of `size` px text,
    /// and says where the first one goes (its centre, its baseline).
    pub fn below(&mut self, lines: &[String], size: f64) -> Point {
        let (x, _, w, _) = self.frame();
        let at = Point::new(x + w / 2.0, self.max.y + MARGIN + size);
        let wide = lines
            .iter()
            .map(|l| l.chars().count() as f64 * size * EM_WIDTH)
            .fold(0.0, f64::max);
        let bottom = at.y + (lines.len().max(1) - 1) as f64 * size * 1.2 + size * 0.3;
        self.hold(at.x - wide / 2.0, at.y - size, at.x + wide / 2.0, bottom);
        at
    }
}

impl RenderBackend for Fit {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        look: &StyleAttr,
        properties: Option<String>,
        clip: Option<ClipHandle>,
    ) {
        self.hold(xy.x, xy.y, xy.x + size.x, xy.y + size.y);
        self.svg.draw_rect(xy, size, look, properties, clip);
    }

    fn draw_line(
        &mut self,
        start: Point,
        stop: Point,
        look: &StyleAttr,
        properties: Option<String>,
    ) {
        self.hold(start.x, start.y, stop.x, stop.y);
        self.svg.draw_line(start, stop, look, properties);
    }

    fn draw_circle(
        &mut self,
        xy: Point,
        size: Point,
        look: &StyleAttr,
        properties: Option<String>,
    ) {
        let (rx, ry) = (size.x / 2.0, size.y / 2.0);
        self.hold(xy.x - rx, xy.y - ry, xy.x + rx, xy.y + ry);
        self.svg.draw_circle(xy, size, look, properties);
    }

    fn draw_text(&mut self, xy: Point, text: &str, look: &StyleAttr) {
        // Centred on xy, a line per line of text (as layout-rs writes it).
        let fs = look.font_size as f64;
        let n = text.lines().count().max(1) as f64;
        let wide = text
            .lines()
            .map(|l| l.chars().count() as f64 * fs * EM_WIDTH)
            .fold(0.0, f64::max);
        self.hold(
            xy.x - wide / 2.0,
            xy.y - n * fs / 2.0,
            xy.x + wide / 2.0,
            xy.y + n * fs / 2.0,
        );
        self.svg.draw_text(xy, text, look);
    }

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        dashed: bool,
        head: (bool, bool),
        look: &StyleAttr,
        properties: Option<String>,
        text: &str,
    ) {
        // A Bézier curve stays inside its control points; its label runs
        // along it, a line high.
        let pad = if text.is_empty() {
            0.0
        } else {
            look.font_size as f64
        };
        for (a, b) in path {
            self.hold(a.x - pad, a.y - pad, a.x + pad, a.y + pad);
            self.hold(b.x - pad, b.y - pad, b.x + pad, b.y + pad);
        }
        self.svg
            .draw_arrow(path, dashed, head, look, properties, text);
    }

    fn create_clip(&mut self, xy: Point, size: Point, rounded_px: usize) -> ClipHandle {
        self.svg.create_clip(xy, size, rounded_px)
    }
}
