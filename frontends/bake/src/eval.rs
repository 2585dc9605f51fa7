//! Bake files → HCL blocks → evaluated groups and targets.

use crate::model::{Definition, Group, Target};
use crate::{Error, File};
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
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
            if !matches!(kind.as_str(), "variable" | "group" | "target") {
                return Err(Error::new(
                    f.name,
                    format!("{kind} blocks are not supported (variable, group and target are)"),
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
    let ctx = variables(&blocks, env)?;
    let mut def = Definition::default();
    for key in &order {
        let (kind, name) = key;
        let Some(attrs) = blocks.get(key) else {
            continue;
        };
        let mut values = BTreeMap::new();
        for (k, (expr, file)) in attrs {
            let v = expr
                .evaluate(&ctx)
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
fn variables(blocks: &Blocks, env: &BTreeMap<String, String>) -> Result<Context<'static>, Error> {
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
                    .map_err(|e| (file.clone(), e.to_string())),
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
            return Ok(context(&known));
        }
        if pending.len() == before {
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

fn context(vars: &BTreeMap<String, Value>) -> Context<'static> {
    let mut ctx = Context::new();
    for (k, v) in vars {
        ctx.declare_var(k.as_str(), v.clone());
    }
    let s = ParamType::String;
    let any = ParamType::Any;
    let funcs: Vec<(&str, FuncDef)> = vec![
        (
            "equal",
            FuncDef::builder()
                .params([any.clone(), any.clone()])
                .build(|a| Ok(Value::Bool(a[0] == a[1]))),
        ),
        (
            "notequal",
            FuncDef::builder()
                .params([any.clone(), any.clone()])
                .build(|a| Ok(Value::Bool(a[0] != a[1]))),
        ),
        (
            "and",
            FuncDef::builder()
                .variadic_param(ParamType::Bool)
                .build(|a| Ok(Value::Bool(a.iter().all(|v| v.as_bool() == Some(true))))),
        ),
        (
            "or",
            FuncDef::builder()
                .variadic_param(ParamType::Bool)
                .build(|a| Ok(Value::Bool(a.iter().any(|v| v.as_bool() == Some(true))))),
        ),
        (
            "not",
            FuncDef::builder()
                .param(ParamType::Bool)
                .build(|a| Ok(Value::Bool(a[0].as_bool() != Some(true)))),
        ),
        (
            "lower",
            FuncDef::builder()
                .param(s.clone())
                .build(|a| Ok(Value::String(arg_str(&a, 0).to_lowercase()))),
        ),
        (
            "upper",
            FuncDef::builder()
                .param(s.clone())
                .build(|a| Ok(Value::String(arg_str(&a, 0).to_uppercase()))),
        ),
        (
            "trimspace",
            FuncDef::builder()
                .param(s.clone())
                .build(|a| Ok(Value::String(arg_str(&a, 0).trim().to_string()))),
        ),
        (
            "trimprefix",
            FuncDef::builder()
                .params([s.clone(), s.clone()])
                .build(|a| {
                    let (x, p) = (arg_str(&a, 0), arg_str(&a, 1));
                    Ok(Value::String(
                        x.strip_prefix(p.as_str()).unwrap_or(&x).to_string(),
                    ))
                }),
        ),
        (
            "trimsuffix",
            FuncDef::builder()
                .params([s.clone(), s.clone()])
                .build(|a| {
                    let (x, p) = (arg_str(&a, 0), arg_str(&a, 1));
                    Ok(Value::String(
                        x.strip_suffix(p.as_str()).unwrap_or(&x).to_string(),
                    ))
                }),
        ),
        (
            "replace",
            FuncDef::builder()
                .params([s.clone(), s.clone(), s.clone()])
                .build(|a| {
                    Ok(Value::String(
                        arg_str(&a, 0).replace(&arg_str(&a, 1), &arg_str(&a, 2)),
                    ))
                }),
        ),
        (
            "join",
            FuncDef::builder()
                .params([s.clone(), ParamType::Array(Box::new(any.clone()))])
                .build(|a| {
                    let sep = arg_str(&a, 0);
                    let items: Vec<String> = a[1]
                        .as_array()
                        .map(|v| {
                            v.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    Ok(Value::String(items.join(&sep)))
                }),
        ),
        (
            "split",
            FuncDef::builder()
                .params([s.clone(), s.clone()])
                .build(|a| {
                    let (sep, x) = (arg_str(&a, 0), arg_str(&a, 1));
                    Ok(Value::Array(
                        x.split(sep.as_str())
                            .map(|p| Value::String(p.to_string()))
                            .collect(),
                    ))
                }),
        ),
        (
            "coalesce",
            FuncDef::builder().variadic_param(any.clone()).build(|a| {
                Ok(a.iter()
                    .find(|v| !v.is_null() && v.as_str() != Some(""))
                    .cloned()
                    .unwrap_or(Value::Null))
            }),
        ),
        (
            "length",
            FuncDef::builder().param(any).build(|a| {
                let n = match &a[0] {
                    Value::Array(v) => v.len(),
                    Value::Object(m) => m.len(),
                    Value::String(s) => s.chars().count(),
                    other => return Err(format!("length of {other}")),
                };
                Ok(Value::from(n as u64))
            }),
        ),
        (
            "substr",
            FuncDef::builder()
                .params([s, ParamType::Number, ParamType::Number])
                .build(|a| {
                    let x = arg_str(&a, 0);
                    let off = a[1].as_i64().unwrap_or(0).max(0) as usize;
                    let len = a[2].as_i64().unwrap_or(-1);
                    let chars = x.chars().skip(off);
                    Ok(Value::String(if len < 0 {
                        chars.collect()
                    } else {
                        chars.take(len as usize).collect()
                    }))
                }),
        ),
    ];
    for (name, f) in funcs {
        ctx.declare_func(name, f);
    }
    ctx
}

fn arg_str(a: &FuncArgs, i: usize) -> String {
    a.get(i)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
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
