//! From policy text to raw rules: the HCL or JSON document is checked for Vault's shape
//! (`path "<pattern>" { key = value ... }`, nothing else at the top level but an ignored
//! `name`) and each rule's settings are turned into JSON values keyed by their known names.
//! What the settings mean is decided in `policy.rs`.

use hcl::{Body, Expression, ObjectKey, Structure};
use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};

/// One `path` stanza before its settings are interpreted.
#[derive(Debug)]
pub(crate) struct RawRule {
    /// The pattern exactly as written.
    pub(crate) path: String,
    /// The settings, in order, under their known key names.
    pub(crate) fields: Vec<(RuleKey, Value)>,
}

/// The settings a `path` stanza may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuleKey {
    Capabilities,
    Policy,
    RequiredParameters,
    AllowedParameters,
    DeniedParameters,
    MinWrappingTtl,
    MaxWrappingTtl,
    Comment,
}

impl RuleKey {
    const ALL: [RuleKey; 8] = [
        RuleKey::Capabilities,
        RuleKey::Policy,
        RuleKey::RequiredParameters,
        RuleKey::AllowedParameters,
        RuleKey::DeniedParameters,
        RuleKey::MinWrappingTtl,
        RuleKey::MaxWrappingTtl,
        RuleKey::Comment,
    ];

    /// Vault Enterprise settings we recognise but do not implement.
    const UNSUPPORTED: [&'static str; 2] = ["control_group", "mfa_methods"];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RuleKey::Capabilities => "capabilities",
            RuleKey::Policy => "policy",
            RuleKey::RequiredParameters => "required_parameters",
            RuleKey::AllowedParameters => "allowed_parameters",
            RuleKey::DeniedParameters => "denied_parameters",
            RuleKey::MinWrappingTtl => "min_wrapping_ttl",
            RuleKey::MaxWrappingTtl => "max_wrapping_ttl",
            RuleKey::Comment => "comment",
        }
    }

    fn parse(path: &str, key: &str) -> Result<RuleKey> {
        if let Some(known) = RuleKey::ALL.into_iter().find(|known| known.as_str() == key) {
            return Ok(known);
        }
        if RuleKey::UNSUPPORTED.contains(&key) {
            return Err(Error::UnsupportedRuleKey {
                path: path.to_owned(),
                key: key.to_owned(),
            });
        }
        Err(Error::UnknownRuleKey {
            path: path.to_owned(),
            key: key.to_owned(),
        })
    }
}

const TOP_LEVEL_PATH: &str = "path";
const TOP_LEVEL_NAME: &str = "name";

/// Splits policy text into raw rules. Text starting with `{` that parses as JSON is read as
/// Vault's JSON policy shape; everything else is HCL.
pub(crate) fn parse_document(text: &str) -> Result<Vec<RawRule>> {
    if text.trim_start().starts_with('{') {
        return match serde_json::from_str::<Value>(text) {
            Ok(document) => rules_from_json(document),
            // HCL cannot start with `{` either, but try it as the spec says; if it fails too,
            // the JSON error is the one that helps.
            Err(json_error) => match hcl::parse(text) {
                Ok(body) => rules_from_hcl(body),
                Err(_) => Err(Error::Json(json_error)),
            },
        };
    }
    rules_from_hcl(hcl::parse(text)?)
}

fn rules_from_json(document: Value) -> Result<Vec<RawRule>> {
    let Value::Object(top) = document else {
        return Err(Error::MalformedTopLevel {
            what: "a JSON policy must be an object",
        });
    };
    let mut rules = Vec::new();
    for (key, value) in top {
        match key.as_str() {
            TOP_LEVEL_NAME => {}
            TOP_LEVEL_PATH => rules_from_path_object(value, &mut rules)?,
            _ => return Err(Error::UnknownTopLevelKey { key }),
        }
    }
    Ok(rules)
}

/// The JSON form `{"<pattern>": {<settings>}, ...}` (also accepted as an HCL attribute
/// `path = { ... }`).
fn rules_from_path_object(value: Value, rules: &mut Vec<RawRule>) -> Result<()> {
    let Value::Object(paths) = value else {
        return Err(Error::MalformedTopLevel {
            what: "\"path\" must be an object mapping path patterns to rules",
        });
    };
    for (path, settings) in paths {
        let Value::Object(settings) = settings else {
            return Err(Error::MalformedTopLevel {
                what: "each rule under \"path\" must be an object of settings",
            });
        };
        let fields = settings
            .into_iter()
            .map(|(key, value)| Ok((RuleKey::parse(&path, &key)?, value)))
            .collect::<Result<_>>()?;
        rules.push(RawRule { path, fields });
    }
    Ok(())
}

fn rules_from_hcl(body: Body) -> Result<Vec<RawRule>> {
    let mut rules = Vec::new();
    for structure in body.into_inner() {
        match structure {
            Structure::Attribute(attribute) => match attribute.key() {
                TOP_LEVEL_NAME => {}
                TOP_LEVEL_PATH => {
                    let value =
                        literal(attribute.expr.clone()).ok_or(Error::MalformedTopLevel {
                            what: "\"path\" must be a literal object",
                        })?;
                    rules_from_path_object(value, &mut rules)?;
                }
                key => {
                    return Err(Error::UnknownTopLevelKey {
                        key: key.to_owned(),
                    });
                }
            },
            Structure::Block(block) => {
                if block.identifier() != TOP_LEVEL_PATH {
                    return Err(Error::UnknownTopLevelKey {
                        key: block.identifier().to_owned(),
                    });
                }
                let [label] = block.labels() else {
                    return Err(Error::MalformedTopLevel {
                        what: "a \"path\" block takes exactly one label, the path pattern",
                    });
                };
                let path = label.as_str().to_owned();
                let fields = fields_from_hcl(&path, block.body)?;
                rules.push(RawRule { path, fields });
            }
        }
    }
    Ok(rules)
}

fn fields_from_hcl(path: &str, body: Body) -> Result<Vec<(RuleKey, Value)>> {
    let mut fields = Vec::new();
    for structure in body.into_inner() {
        match structure {
            Structure::Attribute(attribute) => {
                let key = RuleKey::parse(path, attribute.key())?;
                let value = literal(attribute.expr).ok_or_else(|| Error::InvalidRuleValue {
                    path: path.to_owned(),
                    key: key.as_str(),
                    expected: "a literal value (no interpolation or expressions)",
                })?;
                fields.push((key, value));
            }
            Structure::Block(block) => {
                let key = RuleKey::parse(path, block.identifier())?;
                return Err(Error::InvalidRuleValue {
                    path: path.to_owned(),
                    key: key.as_str(),
                    expected: "an attribute (`key = value`), not a block",
                });
            }
        }
    }
    Ok(fields)
}

/// Converts a literal HCL expression (no variables, templates, functions or operators) to JSON.
fn literal(expression: Expression) -> Option<Value> {
    Some(match expression {
        Expression::Null => Value::Null,
        Expression::Bool(value) => Value::Bool(value),
        Expression::Number(number) => Value::Number(if let Some(value) = number.as_u64() {
            Number::from(value)
        } else if let Some(value) = number.as_i64() {
            Number::from(value)
        } else {
            Number::from_f64(number.as_f64()?)?
        }),
        Expression::String(value) => Value::String(value),
        Expression::Array(items) => {
            Value::Array(items.into_iter().map(literal).collect::<Option<_>>()?)
        }
        Expression::Object(object) => {
            let mut map = Map::new();
            for (key, value) in object {
                let key = match key {
                    ObjectKey::Identifier(identifier) => identifier.into_inner(),
                    ObjectKey::Expression(Expression::String(key)) => key,
                    ObjectKey::Expression(_) => return None,
                    // `ObjectKey` is non-exhaustive; anything new is not a plain literal.
                    _ => return None,
                };
                map.insert(key, literal(value)?);
            }
            Value::Object(map)
        }
        Expression::Parenthesis(inner) => literal(*inner)?,
        _ => return None,
    })
}
