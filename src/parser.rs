//! How nslab reads a script, shared by the running engine (engine.rs)
//! and the parsers that only read one (`nslab check`, the reference's
//! recipes): a leaf, so that those need not import the engine and the API.

use rhai::Engine;

/// rhai reserves `spawn` for itself; in lab scripts it is ns.spawn().
/// (on_parse_token is marked volatile, not deprecated, by rhai.)
pub fn spawn_is_a_name(engine: &mut Engine) {
    #[allow(deprecated)]
    engine.on_parse_token(|token, _, _| match token {
        rhai::Token::Reserved(s) if s.as_str() == "spawn" => rhai::Token::Identifier(s),
        other => other,
    });
}

/// A parser only (`nslab check`, the reference's recipes), reading
/// scripts as the running engine does: its limits, `spawn` a name.
pub fn parser() -> Engine {
    let mut engine = Engine::new_raw();
    engine.set_max_expr_depths(256, 256);
    spawn_is_a_name(&mut engine);
    engine
}
