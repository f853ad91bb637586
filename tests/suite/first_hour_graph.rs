//! The first hour (issue 21), items 2 and 5: the explanation of a triangle
//! with a link cut and no route back, and `nslab graph` of a lab that
//! fails, with a link down, on a canvas that fits.

use crate::common::*;

/// h1 - r1 - r3, h1 on r1's LAN (192.168.1.0/24), r1 - r3 on 10.0.13.0/24
/// with r3's end down; `tail` is appended.
fn cut(tail: &str) -> String {
    let lab = [
        r#"let h1 = netns("h1"); let r1 = netns("r1"); let r3 = netns("r3");"#,
        r#"let lan = veth(h1, "eth0", r1, "lan"); lan[0].addr("192.168.1.10/24"); lan[1].addr("192.168.1.1/24");"#,
        r#"let b = veth(r1, "to-r3", r3, "to-r1"); b[0].addr("10.0.13.1/24"); b[1].addr("10.0.13.3/24");"#,
        r#"r3.link("to-r1").down();"#,
    ];
    format!("{}\n{tail}", lab.join("\n"))
}

/// The line of `cut(tail)` that `tail`'s first line stands at.
fn tail_line() -> usize {
    cut("").lines().count() + 1
}

/// The cut lab with r2 making a triangle (r2 to r1 and to r3) and no route
/// back on r3: h1's ping of r3 (over r2) is lost on the way back.
#[test]
fn a_triangle_with_a_cut_link_and_no_route_back_is_explained_truly() {
    let o = run_ok(
        "triangle.rhai",
        &cut(r#"let r2 = netns("r2");
let a = veth(r1, "to-r2", r2, "to-r1"); a[0].addr("10.0.12.1/24"); a[1].addr("10.0.12.2/24");
let c = veth(r2, "to-r3", r3, "to-r2"); c[0].addr("10.0.23.2/24"); c[1].addr("10.0.23.3/24");
h1.route("default", "192.168.1.1");
r1.route("10.0.23.0/24", "10.0.12.2");
r2.route("192.168.1.0/24", "10.0.12.1");
for r in [r1, r2, r3] { r.forwarding(true); }
try { h1.expect_reach("10.0.23.3"); print("REACHED"); }
catch (e) { print(`FAULT: ${e.message} HELP: ${e.help}`); }
"#),
    );
    let at = o
        .stdout
        .find("FAULT: ")
        .unwrap_or_else(|| panic!("no FAULT line:\n{}", o.all()));
    let text = words(&o.stdout[at..]);
    says(
        &text,
        &[
            "r3 has no route back to 192.168.1.10",
            "its link to-r1 is down",
            "HELP: r3.route(\"192.168.1.0/24\", \"10.0.23.2\")",
        ],
    );
    // Neither a route through the dead link nor routes that never were.
    lacks(
        &text,
        &["10.0.13.1", "went with it", "r3.route(\"default\""],
    );
}

/// `nslab graph f.rhai --format FORMAT -o f.FORMAT` in `d`: its result
/// and the file it wrote ("" when none).
fn graph(d: &Dir, format: &str) -> (Out, String) {
    let file = d.path().join(format!("f.{format}"));
    let _ = std::fs::remove_file(&file);
    let o = nslab(
        &[
            "graph",
            "f.rhai",
            "--format",
            format,
            "-o",
            file.to_str().expect("a UTF-8 path"),
        ],
        d.path(),
    );
    (o, std::fs::read_to_string(&file).unwrap_or_default())
}

#[test]
fn a_script_that_fails_is_drawn_as_its_lab_stood_with_the_error() {
    let d = Dir::new();
    // The tail's first line: h1 has no route to r3.
    d.write(
        "f.rhai",
        &cut("h1.expect_reach(\"10.0.13.3\");\nprint(\"never\");\n"),
    );
    let n = tail_line();
    for format in ["dot", "mermaid", "svg"] {
        let (o, text) = graph(&d, format);
        assert_eq!(o.code, 1, "{format}: {}", o.all());
        // The error is reported as `nslab run` reports it.
        says(
            &o.stderr,
            &["h1 cannot reach 10.0.13.3", &format!("f.rhai:{n}")],
        );
        let failed = format!("the script failed at line {n}: h1 cannot reach 10.0.13.3");
        says(&text, &["h1", "r1", "r3", &failed]);
    }
    // A script that fails before it made anything still gets its picture.
    d.write("f.rhai", "throw \"no lab today\";\n");
    let (o, text) = graph(&d, "dot");
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(
        text.contains("the script failed at line 1"),
        "{text}\n{}",
        o.all()
    );
}

#[test]
fn a_link_that_is_down_is_drawn_dashed_and_red_in_each_format() {
    let d = Dir::new();
    d.write("f.rhai", &cut(""));
    let (o, dot) = graph(&d, "dot");
    o.assert_ok();
    let edge = |text: &str, has: &str| -> String {
        text.lines()
            .find(|l| l.contains(has))
            .unwrap_or_else(|| panic!("no line with '{has}' in:\n{text}"))
            .to_string()
    };
    let down = edge(&dot, "to-r1 10.0.13.3/24 (down)");
    assert!(
        down.contains("style=dashed") && down.contains("color=red"),
        "{dot}"
    );
    let up = edge(&dot, "eth0 192.168.1.10/24");
    assert!(!up.contains("dashed") && !up.contains("red"), "{dot}");

    let (o, mm) = graph(&d, "mermaid");
    o.assert_ok();
    assert!(edge(&mm, "(down)").contains("-.-"), "{mm}");
    assert!(edge(&mm, "eth0 192.168.1.10/24").contains("---"), "{mm}");
    // The second link written (index 1) is the one down.
    assert!(
        mm.contains("linkStyle 1 stroke:red,stroke-dasharray:5 5"),
        "{mm}"
    );

    let (o, svg) = graph(&d, "svg");
    o.assert_ok();
    let strokes = python(
        "import sys, xml.etree.ElementTree as ET\n\
         root = ET.fromstring(sys.stdin.read())\n\
         for p in root.iter('{http://www.w3.org/2000/svg}path'):\n\
         \x20   print(p.get('stroke'), p.get('stroke-dasharray'))",
        &svg,
    );
    let lines: Vec<&str> = strokes.lines().collect();
    assert_eq!(lines.len(), 2, "{strokes}\n{svg}");
    assert!(
        lines.contains(&"#ff0000ff 5,5") && lines.contains(&"#000000ff None"),
        "{strokes}"
    );
}

/// Runs python3 `code` with `input` on its stdin; its stdout.
fn python(code: &str, input: &str) -> String {
    let o = pipe(tool("python3").args(["-c", code]), input);
    assert_eq!(o.code, 0, "python3: {}", o.stderr);
    o.stdout
}

/// The box of what the SVG draws (rects, ellipses, paths' points, text
/// anchors) and its viewBox, as "x y w h" each on a line.
const BOXES: &str = r#"import sys, re, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
xs, ys = [], []
for el in root.iter():
    t, a = el.tag.split('}')[-1], el.attrib
    if t == 'rect' and 'width' in a:
        x, y, w, h = (float(a[k]) for k in ('x', 'y', 'width', 'height'))
        xs += [x, x + w]; ys += [y, y + h]
    elif t == 'ellipse':
        cx, cy, rx, ry = (float(a[k]) for k in ('cx', 'cy', 'rx', 'ry'))
        xs += [cx - rx, cx + rx]; ys += [cy - ry, cy + ry]
    elif t == 'path':
        n = [float(v) for v in re.findall(r'-?\d+(?:\.\d+)?', a['d'])]
        xs += n[0::2]; ys += n[1::2]
    elif t == 'text' and 'x' in a:
        xs.append(float(a['x'])); ys.append(float(a['y']))
print(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
print(root.attrib['viewBox'])
print(root.attrib['width'], root.attrib['height'])
"#;

#[test]
fn the_svg_canvas_fits_the_drawing() {
    let d = Dir::new();
    // A lab with a bridge (a cluster) and a router, working, and the cut
    // triangle failing (its caption below the drawing).
    d.write(
        "f.rhai",
        &cut(r#"let s = netns("s");
let br0 = bridge(s, "br0");
let p = veth(r1, "to-s", s, "p1");
br0.attach(p[1]);
r1.forwarding(true);
"#),
    );
    let d2 = Dir::new();
    d2.write("f.rhai", &cut("h1.expect_reach(\"10.0.13.3\");\n"));
    for (d, code) in [(&d, 0), (&d2, 1)] {
        let (o, svg) = graph(d, "svg");
        assert_eq!(o.code, code, "{}", o.all());
        let out = python(BOXES, &svg);
        let rows: Vec<Vec<f64>> = out
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .map(|v| v.parse().expect("a number"))
                    .collect()
            })
            .collect();
        let (content, view, size) = (&rows[0], &rows[1], &rows[2]);
        // Each side of the canvas within a few percent (and a margin of a
        // few pixels) of the drawing's, outside it.
        for k in 0..2 {
            let (lo, len) = (content[k], content[k + 2]);
            let (vlo, vlen) = (view[k], view[k + 2]);
            let slack = 12.0 + 0.03 * len;
            assert!(
                vlo <= lo && lo - vlo <= slack,
                "{k}: content {content:?}, viewBox {view:?}"
            );
            let (hi, vhi) = (lo + len, vlo + vlen);
            assert!(
                vhi >= hi && vhi - hi <= slack + if code == 1 { 10.0 } else { 0.0 },
                "{k}: content {content:?}, viewBox {view:?}"
            );
            assert!((size[k] - vlen).abs() <= 1.0, "{size:?} {view:?}");
        }
    }
}
