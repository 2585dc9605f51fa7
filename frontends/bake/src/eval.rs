//! Bake files → HCL blocks → evaluated groups and targets.

use crate::functions::{UserFunction, context};
use crate::model::{Definition, Group, Target};
use crate::{Error, File};
use hcl::eval::{Context, Evaluate};
use hcl::{Expression, Value};
use std::collections::BTreeMap;

/// The blocks of every file, merged by (kind, name): a later file's attribute wins.
type Blocks = BTreeMap<(String, String), BTreeMap<String, (Expression, String)>>;

pub(crate) fn evaluate(
    files: &[File<'_>],
    env: &BTreeMap<String, String>,
) -> Result<Definition, Error> {
    let mut blocks: Blocks = BTreeMap::new();
    let mut order: Vec<(String, String)> = Vec::new();
    let mut functions: Vec<UserFunction> = Vec::new();
    for f in files {
        let body = if f.name.ends_with(".json") {
            json_body(f)?
        } else {
            hcl::parse(f.text).map_err(|e| Error::new(f.name, e.to_string()))?
        };
        for attr in body.attributes() {
            // Top-level attributes are variables with a default (buildx allows `TAG = "x"`).
            let key = ("variable".to_string(), attr.key().to_string());
            let entry = blocks.entry(key.clone()).or_default();
            entry.insert("default".into(), (attr.expr().clone(), f.name.to_string()));
            if !order.contains(&key) {
                order.push(key);
            }
        }
        for block in body.blocks() {
            let kind = block.identifier().to_string();
            if kind == "function" {
                functions.push(UserFunction::parse(block).map_err(|e| Error::new(f.name, e))?);
                continue;
            }
            if !matches!(kind.as_str(), "variable" | "group" | "target") {
                return Err(Error::new(
                    f.name,
                    format!(
                        "{kind} blocks are not supported (variable, function, group and target are)"
                    ),
                ));
            }
            let [label] = block.labels() else {
                return Err(Error::new(
                    f.name,
                    format!("a {kind} block needs exactly one name"),
                ));
            };
            let key = (kind, label.as_str().to_string());
            let entry = blocks.entry(key.clone()).or_default();
            for attr in block.body().attributes() {
                entry.insert(
                    attr.key().to_string(),
                    (attr.expr().clone(), f.name.to_string()),
                );
            }
            if !order.contains(&key) {
                order.push(key);
            }
        }
    }
    // The user's functions are known to every evaluation below, until this returns.
    let _functions = crate::functions::define(functions).map_err(|e| Error::new("bake", e))?;
    let (ctx, known) = variables(&blocks, env)?;
    let mut def = Definition::default();
    for key in &order {
        let (kind, name) = key;
        let Some(attrs) = blocks.get(key) else {
            continue;
        };
        if kind == "target"
            && let Some((matrix, file)) = attrs.get("matrix")
        {
            expand_matrix(&mut def, name, attrs, matrix, file, &ctx, &known)?;
            continue;
        }
        let mut values = BTreeMap::new();
        for (k, (expr, file)) in attrs {
            let v = expr
                .evaluate(&ctx)
                .map_err(|e| e.to_string())
                .and_then(|v| crate::functions::check_size(&v).map(|()| v))
                .map_err(|e| Error::new(file, format!("{kind} {name:?}, {k}: {e}")))?;
            values.insert(k.clone(), (v, file.clone()));
        }
        match kind.as_str() {
            "group" => {
                let mut g = Group::default();
                for (k, (v, file)) in values {
                    match k.as_str() {
                        "targets" => {
                            g.targets = strings(&v).map_err(|e| {
                                Error::new(&file, format!("group {name:?}, targets: {e}"))
                            })?
                        }
                        "description" => {}
                        other => {
                            return Err(Error::new(
                                &file,
                                format!("group {name:?}: unknown attribute {other:?}"),
                            ));
                        }
                    }
                }
                def.groups.insert(name.clone(), g);
            }
            "target" => {
                let mut t = Target::default();
                for (k, (v, file)) in values {
                    set_field(&mut t, &k, &v)
                        .map_err(|e| Error::new(&file, format!("target {name:?}, {k}: {e}")))?;
                }
                def.targets.insert(name.clone(), t);
            }
            _ => {}
        }
    }
    Ok(def)
}

/// The most targets one `matrix` may make.
const MAX_MATRIX: usize = 1024;

/// A target with a `matrix` (`{ VAR = [values…] }`): one target per combination, named by its
/// `name` attribute evaluated with the combination's values; the block's own name becomes a
/// group of them, as in buildx.
fn expand_matrix(
    def: &mut Definition,
    name: &str,
    attrs: &BTreeMap<String, (Expression, String)>,
    matrix: &Expression,
    file: &str,
    ctx: &Context<'static>,
    known: &BTreeMap<String, Value>,
) -> Result<(), Error> {
    let fail = |m: String| Error::new(file, format!("target {name:?}, matrix: {m}"));
    let Value::Object(axes) = matrix.evaluate(ctx).map_err(|e| fail(e.to_string()))? else {
        return Err(fail("expected a map of lists".into()));
    };
    let mut combos: Vec<Vec<(String, Value)>> = vec![Vec::new()];
    for (var, values) in axes {
        let Value::Array(values) = values else {
            return Err(fail(format!("{var} is not a list")));
        };
        if combos.len().saturating_mul(values.len()) > MAX_MATRIX {
            return Err(fail(format!("more than {MAX_MATRIX} combinations")));
        }
        let mut next = Vec::with_capacity(combos.len() * values.len());
        for c in &combos {
            for v in &values {
                let mut c = c.clone();
                c.push((var.clone(), v.clone()));
                next.push(c);
            }
        }
        combos = next;
    }
    let name_expr = attrs
        .get("name")
        .ok_or_else(|| fail("a matrix target needs a `name` (e.g. \"app-${VAR}\")".into()))?;
    let mut made = Vec::new();
    for combo in combos {
        let mut vars = known.clone();
        vars.extend(combo);
        let cctx = context(&vars);
        let made_name = name_expr
            .0
            .evaluate(&cctx)
            .map_err(|e| fail(format!("name: {e}")))
            .and_then(|v| string(&v).map_err(fail))?;
        let mut t = Target::default();
        for (k, (expr, f)) in attrs.iter().filter(|(k, _)| *k != "matrix" && *k != "name") {
            let v = expr
                .evaluate(&cctx)
                .map_err(|e| Error::new(f, format!("target {made_name:?}, {k}: {e}")))?;
            set_field(&mut t, k, &v)
                .map_err(|e| Error::new(f, format!("target {made_name:?}, {k}: {e}")))?;
        }
        if def.targets.insert(made_name.clone(), t).is_some() || made.contains(&made_name) {
            return Err(fail(format!(
                "two combinations are both named {made_name:?}"
            )));
        }
        made.push(made_name);
    }
    def.groups.insert(name.to_string(), Group { targets: made });
    Ok(())
}

fn set_field(t: &mut Target, key: &str, v: &Value) -> Result<(), String> {
    let one = |v: &Value| string(v).map(Some);
    match key {
        "context" => t.context = one(v)?,
        "dockerfile" => t.dockerfile = one(v)?,
        "dockerfile-inline" => t.dockerfile_inline = one(v)?,
        "target" => t.target = one(v)?,
        "network" => t.network = one(v)?,
        "args" => t.args = map(v)?,
        "labels" => t.labels = map(v)?,
        "contexts" => t.contexts = map(v)?,
        "tags" => t.tags = strings(v)?,
        "platforms" => t.platforms = strings(v)?,
        "cache-from" => t.cache_from = strings(v)?,
        "cache-to" => t.cache_to = strings(v)?,
        "secret" => t.secret = strings(v)?,
        "ssh" => t.ssh = strings(v)?,
        "output" => t.outputs = strings(v)?,
        "no-cache-filter" => t.no_cache_filter = strings(v)?,
        "inherits" => t.inherits = strings(v)?,
        "no-cache" => t.no_cache = Some(boolean(v)?),
        "pull" => t.pull = Some(boolean(v)?),
        "name" => return Err("`name` is for matrix targets".into()),
        "description" | "annotations" | "attest" | "shm-size" | "ulimits" | "entitlements" => {
            return Err(format!("{key} is not supported by cairn bake yet"));
        }
        other => return Err(format!("unknown attribute {other:?}")),
    }
    Ok(())
}

fn string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected a string, got {other}")),
    }
}

fn strings(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => items.iter().filter(|i| !i.is_null()).map(string).collect(),
        other => Err(format!("expected a list, got {other}")),
    }
}

fn map(v: &Value) -> Result<BTreeMap<String, String>, String> {
    match v {
        // A null value (buildx: `args = { X = null }`) leaves the key out.
        Value::Object(m) => m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| Ok((k.clone(), string(v)?)))
            .collect(),
        other => Err(format!("expected a map, got {other}")),
    }
}

fn boolean(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        other => Err(format!("expected true or false, got {other}")),
    }
}

/// Every variable's value (the environment's when set, else its default, which may use other
/// variables), declared in a context with the functions.
fn variables(
    blocks: &Blocks,
    env: &BTreeMap<String, String>,
) -> Result<(Context<'static>, BTreeMap<String, Value>), Error> {
    let mut pending: Vec<(String, Option<(Expression, String)>)> = blocks
        .iter()
        .filter(|((kind, _), _)| kind == "variable")
        .map(|((_, name), attrs)| (name.clone(), attrs.get("default").cloned()))
        .collect();
    let mut known: BTreeMap<String, Value> = BTreeMap::new();
    // Defaults may name each other: evaluate in rounds until nothing more resolves.
    loop {
        let ctx = context(&known);
        let before = pending.len();
        let mut failed = Vec::new();
        pending.retain(|(name, default)| {
            let default_value = match default {
                None => Ok(Value::String(String::new())),
                Some((expr, file)) => expr
                    .evaluate(&ctx)
                    .map_err(|e| e.to_string())
                    .and_then(|d| crate::functions::check_size(&d).map(|()| d))
                    .map_err(|e| (file.clone(), e)),
            };
            match (env.get(name), default_value) {
                (Some(s), Ok(d)) => {
                    known.insert(name.clone(), typed_like(s, &d));
                    false
                }
                (Some(s), Err(_)) => {
                    known.insert(name.clone(), Value::String(s.clone()));
                    false
                }
                (None, Ok(d)) => {
                    known.insert(name.clone(), d);
                    false
                }
                (None, Err(e)) => {
                    failed.push((name.clone(), e));
                    true
                }
            }
        });
        if pending.is_empty() {
            return Ok((context(&known), known));
        }
        if pending.len() == before {
            // A value too large is the cause to name, not the variables waiting on it.
            failed.sort_by_key(|(_, (_, e))| !e.contains("larger than"));
            let (name, (file, e)) = failed
                .into_iter()
                .next()
                .unwrap_or_else(|| (String::new(), (String::new(), String::new())));
            return Err(Error::new(&file, format!("variable {name:?}: {e}")));
        }
    }
}

/// An environment value for a variable whose default is a bool or a number: of that type, as
/// buildx converts it.
fn typed_like(s: &str, default: &Value) -> Value {
    match default {
        Value::Bool(_) if s == "true" || s == "false" => Value::Bool(s == "true"),
        Value::Number(_) => s
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| s.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(s.to_string())),
        _ => Value::String(s.to_string()),
    }
}

/// A JSON bake file as an HCL body: `{"variable": {N: {...}}, "group": {...}, "target": {...}}`,
/// strings read as templates so `${VAR}` is interpolated as in HCL.
fn json_body(f: &File<'_>) -> Result<hcl::Body, Error> {
    let v: serde_json::Value =
        serde_json::from_str(f.text).map_err(|e| Error::new(f.name, e.to_string()))?;
    let top = v
        .as_object()
        .ok_or_else(|| Error::new(f.name, "expected an object of variable, group and target"))?;
    let mut body = hcl::Body::builder();
    for (kind, named) in top {
        let named = named
            .as_object()
            .ok_or_else(|| Error::new(f.name, format!("{kind}: expected an object of names")))?;
        for (name, attrs) in named {
            let attrs = attrs.as_object().ok_or_else(|| {
                Error::new(f.name, format!("{kind} {name:?}: expected an object"))
            })?;
            let mut block = hcl::Block::builder(kind.as_str()).add_label(name.as_str());
            for (k, v) in attrs {
                block = block.add_attribute((k.as_str(), json_expr(v)));
            }
            body = body.add_block(block.build());
        }
    }
    Ok(body.build())
}

fn json_expr(v: &serde_json::Value) -> Expression {
    match v {
        serde_json::Value::Null => Expression::Null,
        serde_json::Value::Bool(b) => Expression::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Expression::from)
            .or_else(|| n.as_f64().map(Expression::from))
            .unwrap_or(Expression::Null),
        serde_json::Value::String(s) => {
            Expression::TemplateExpr(Box::new(hcl::TemplateExpr::QuotedString(s.clone())))
        }
        serde_json::Value::Array(items) => Expression::Array(items.iter().map(json_expr).collect()),
        serde_json::Value::Object(m) => Expression::Object(
            m.iter()
                .map(|(k, v)| (hcl::ObjectKey::from(k.as_str()), json_expr(v)))
                .collect(),
        ),
    }
}
