//! `Acl`: the rules of a token's policies compiled for fast lookups, and the `Decision` it
//! gives for a request.
//!
//! Rules with identical patterns are merged first (capabilities unioned, `deny` winning,
//! parameter constraints combined). Exact patterns go into a hash map, plain prefix patterns
//! (`foo/*`) into a byte trie that yields the longest matching prefix, and patterns with `+`
//! segments into a list sorted by priority. A lookup takes the exact match if there is one;
//! otherwise the best of the longest prefix and the first matching segmented pattern.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::capability::{Capabilities, Capability, Operation};
use crate::name::{PolicyName, root_policy_name};
use crate::parameters::ParameterConstraints;
use crate::pattern::Pattern;
use crate::policy::{Policy, Rule};

/// The compiled rules of a set of policies. Cheap to clone; shareable across threads.
#[derive(Debug, Clone)]
pub struct Acl {
    inner: Arc<Inner>,
}

/// The answer to "may this request go ahead?".
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Whether the operation is allowed.
    pub allowed: bool,
    /// Whether the winning rule grants `sudo` (needed in addition on root-protected paths).
    pub sudo: bool,
    /// The winning rule's capabilities (`deny` alone when denied explicitly; empty when no rule
    /// matched).
    pub capabilities: Capabilities,
    /// When allowed, the policies whose rules with the winning pattern grant the operation's
    /// capability (for the audit log); empty otherwise.
    pub granting_policies: Vec<PolicyName>,
    /// The winning rule's minimum wrapping TTL, if any.
    pub min_wrapping_ttl: Option<Duration>,
    /// The winning rule's maximum wrapping TTL, if any.
    pub max_wrapping_ttl: Option<Duration>,
}

#[derive(Debug)]
enum Inner {
    Root,
    Rules(CompiledRules),
}

#[derive(Debug, Default)]
struct CompiledRules {
    /// Every merged rule; the structures below hold indices into it.
    rules: Vec<MergedRule>,
    exact: HashMap<Box<str>, usize>,
    prefixes: PrefixTrie,
    /// Rules with `+` segments, highest priority first.
    segmented: Vec<usize>,
}

/// All rules with one identical pattern, across the policies.
#[derive(Debug)]
struct MergedRule {
    pattern: Pattern,
    capabilities: Capabilities,
    parameters: ParameterConstraints,
    min_wrapping_ttl: Option<Duration>,
    max_wrapping_ttl: Option<Duration>,
    /// Each contributing policy with what its rules for this pattern grant.
    contributors: Vec<(PolicyName, Capabilities)>,
}

impl Acl {
    /// Compiles the rules of `policies`. If one of them is the built-in `root` policy, the ACL
    /// is the root ACL. Rules with identity templates are skipped (they never match until
    /// templating is supported).
    pub fn new(policies: &[Policy]) -> Acl {
        if policies.iter().any(|policy| policy.name().is_root()) {
            return Acl::root();
        }
        let mut compiled = CompiledRules::default();
        let mut by_pattern: HashMap<&str, usize> = HashMap::new();
        for policy in policies {
            for rule in policy.rules().iter().filter(|rule| !rule.is_templated()) {
                match by_pattern.entry(rule.pattern().as_str()) {
                    Entry::Occupied(entry) => {
                        compiled.rules[*entry.get()].merge(rule, policy.name());
                    }
                    Entry::Vacant(entry) => {
                        entry.insert(compiled.rules.len());
                        compiled.rules.push(MergedRule::new(rule, policy.name()));
                    }
                }
            }
        }
        for (index, rule) in compiled.rules.iter().enumerate() {
            if rule.pattern.is_exact() {
                compiled.exact.insert(rule.pattern.as_str().into(), index);
            } else if let Some(prefix) = rule.pattern.plain_prefix() {
                compiled.prefixes.insert(prefix.as_bytes(), index);
            } else {
                compiled.segmented.push(index);
            }
        }
        let rules = &compiled.rules;
        compiled
            .segmented
            .sort_by(|a, b| rules[*b].pattern.priority_cmp(&rules[*a].pattern));
        Acl {
            inner: Arc::new(Inner::Rules(compiled)),
        }
    }

    /// The ACL of the root token: everything, including `sudo`, everywhere.
    pub fn root() -> Acl {
        Acl {
            inner: Arc::new(Inner::Root),
        }
    }

    /// Whether this is the root ACL.
    pub fn is_root(&self) -> bool {
        matches!(*self.inner, Inner::Root)
    }

    /// The capabilities on `path` (no leading slash): the single highest-priority matching rule
    /// across all policies, capabilities unioned only among rules with the IDENTICAL pattern,
    /// and Deny in the winning rule overriding everything. Empty when no rule matches; for the
    /// root ACL every capability but `deny`.
    pub fn capabilities(&self, path: &str) -> Capabilities {
        match &*self.inner {
            Inner::Root => Capabilities::ALL,
            Inner::Rules(compiled) => compiled
                .winner(path, false)
                .map_or(Capabilities::EMPTY, |rule| rule.capabilities),
        }
    }

    /// Decision for an operation: allowed when the winning rule has the op's capability (and
    /// no deny); `sudo` reports whether the winning rule also grants Sudo (callers check it for
    /// root-protected paths). `granting_policies` lists the names of the policies whose rules
    /// with the winning pattern granted it (for the audit log). For [`Operation::List`] an
    /// exact rule for the path without its trailing `/` also applies, as in Vault.
    pub fn check(&self, path: &str, op: Operation) -> Decision {
        self.decide(path, op, None)
    }

    /// Like `check`, also enforcing the winning rule's required/allowed/denied parameters
    /// against the request's top-level parameter names and values (for create, read, update
    /// and patch, as Vault does).
    pub fn check_with_parameters(
        &self,
        path: &str,
        op: Operation,
        params: &Map<String, Value>,
    ) -> Decision {
        self.decide(path, op, Some(params))
    }

    /// Whether any rule could grant anything at or below `prefix` (for the CLI preflight
    /// `sys/internal/ui/mounts/<path>`: 200 when the token has some capability somewhere under
    /// the mount). A granting rule counts even if a higher-priority rule shadows it, as in Vault.
    pub fn has_any_under(&self, prefix: &str) -> bool {
        match &*self.inner {
            Inner::Root => true,
            Inner::Rules(compiled) => compiled.rules.iter().any(|rule| {
                rule.capabilities.grants_any() && rule.pattern.could_match_under(prefix)
            }),
        }
    }

    fn decide(&self, path: &str, op: Operation, params: Option<&Map<String, Value>>) -> Decision {
        let compiled = match &*self.inner {
            Inner::Root => {
                return Decision {
                    allowed: true,
                    sudo: true,
                    capabilities: Capabilities::ALL,
                    granting_policies: vec![root_policy_name()],
                    min_wrapping_ttl: None,
                    max_wrapping_ttl: None,
                };
            }
            Inner::Rules(compiled) => compiled,
        };
        let Some(rule) = compiled.winner(path, op == Operation::List) else {
            return Decision {
                allowed: false,
                sudo: false,
                capabilities: Capabilities::EMPTY,
                granting_policies: Vec::new(),
                min_wrapping_ttl: None,
                max_wrapping_ttl: None,
            };
        };
        let needed = op.capability();
        let allowed = rule.capabilities.contains(needed)
            && match params {
                Some(params) if op.checks_parameters() => rule.parameters.permits(params),
                _ => true,
            };
        let granting_policies = if allowed {
            rule.contributors
                .iter()
                .filter(|(_, capabilities)| capabilities.contains(needed))
                .map(|(name, _)| name.clone())
                .collect()
        } else {
            Vec::new()
        };
        Decision {
            allowed,
            sudo: rule.capabilities.contains(Capability::Sudo),
            capabilities: rule.capabilities,
            granting_policies,
            min_wrapping_ttl: rule.min_wrapping_ttl,
            max_wrapping_ttl: rule.max_wrapping_ttl,
        }
    }
}

impl CompiledRules {
    /// The highest-priority rule matching `path`. With `list_trims_slash`, an exact rule for
    /// `path` without its trailing `/` counts as an exact match too.
    fn winner(&self, path: &str, list_trims_slash: bool) -> Option<&MergedRule> {
        let exact = self.exact.get(path).or_else(|| {
            let trimmed = path.strip_suffix('/').filter(|_| list_trims_slash)?;
            self.exact.get(trimmed)
        });
        if let Some(index) = exact {
            return self.rules.get(*index);
        }
        let prefix = self
            .prefixes
            .longest_match(path.as_bytes())
            .and_then(|index| self.rules.get(index));
        for rule in self
            .segmented
            .iter()
            .filter_map(|index| self.rules.get(*index))
        {
            if let Some(prefix) = prefix
                && prefix.pattern.priority_cmp(&rule.pattern).is_gt()
            {
                // The prefix rule outranks this one and the rest of the list ranks lower still.
                break;
            }
            if rule.pattern.matches(path) {
                return Some(rule);
            }
        }
        prefix
    }
}

impl MergedRule {
    fn new(rule: &Rule, policy: &PolicyName) -> MergedRule {
        MergedRule {
            pattern: rule.pattern().clone(),
            capabilities: rule.capabilities(),
            parameters: rule.parameters().clone(),
            min_wrapping_ttl: rule.min_wrapping_ttl(),
            max_wrapping_ttl: rule.max_wrapping_ttl(),
            contributors: vec![(policy.clone(), rule.capabilities())],
        }
    }

    /// Folds in another rule with the same pattern, as Vault does: a deny on either side makes
    /// the result a plain deny; otherwise capabilities are unioned, parameter constraints
    /// combined and the smaller of each wrapping TTL kept.
    fn merge(&mut self, rule: &Rule, policy: &PolicyName) {
        match self
            .contributors
            .iter_mut()
            .find(|(name, _)| name == policy)
        {
            Some((_, capabilities)) => *capabilities = capabilities.union(rule.capabilities()),
            None => self
                .contributors
                .push((policy.clone(), rule.capabilities())),
        }
        if self.capabilities.contains(Capability::Deny) {
            return;
        }
        if rule.capabilities().contains(Capability::Deny) {
            self.capabilities = Capabilities::DENY;
            self.parameters = ParameterConstraints::default();
            return;
        }
        self.capabilities = self.capabilities.union(rule.capabilities());
        self.min_wrapping_ttl = smaller(self.min_wrapping_ttl, rule.min_wrapping_ttl());
        self.max_wrapping_ttl = smaller(self.max_wrapping_ttl, rule.max_wrapping_ttl());
        self.parameters.merge(rule.parameters());
    }
}

fn smaller(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A byte trie over the prefixes of `foo/*` patterns, answering "which is the longest prefix
/// of this path" in one walk along the path.
#[derive(Debug)]
struct PrefixTrie {
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Default)]
struct TrieNode {
    /// Children sorted by byte.
    children: Vec<(u8, usize)>,
    /// The rule whose prefix ends here.
    rule: Option<usize>,
}

impl Default for PrefixTrie {
    fn default() -> PrefixTrie {
        PrefixTrie {
            nodes: vec![TrieNode::default()],
        }
    }
}

impl PrefixTrie {
    fn insert(&mut self, key: &[u8], rule: usize) {
        let mut node = 0;
        for &byte in key {
            let next_free = self.nodes.len();
            let children = &mut self.nodes[node].children;
            node = match children.binary_search_by_key(&byte, |(b, _)| *b) {
                Ok(position) => children[position].1,
                Err(position) => {
                    children.insert(position, (byte, next_free));
                    self.nodes.push(TrieNode::default());
                    next_free
                }
            };
        }
        self.nodes[node].rule = Some(rule);
    }

    fn longest_match(&self, path: &[u8]) -> Option<usize> {
        let mut node = self.nodes.first()?;
        let mut best = node.rule;
        for byte in path {
            let Ok(position) = node.children.binary_search_by_key(byte, |(b, _)| *b) else {
                break;
            };
            let Some(next) = node
                .children
                .get(position)
                .and_then(|(_, child)| self.nodes.get(*child))
            else {
                break;
            };
            node = next;
            best = node.rule.or(best);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trie_longest_prefix() {
        let mut trie = PrefixTrie::default();
        trie.insert(b"team/", 0);
        trie.insert(b"team/a", 1);
        trie.insert(b"", 2);
        trie.insert(b"tea", 3);
        let cases: [(&[u8], Option<usize>); 6] = [
            (b"team/abc", Some(1)),
            (b"team/x", Some(0)),
            (b"team", Some(3)),
            (b"te", Some(2)),
            (b"", Some(2)),
            (b"other", Some(2)),
        ];
        for (path, expected) in cases {
            assert_eq!(
                trie.longest_match(path),
                expected,
                "{:?}",
                String::from_utf8_lossy(path)
            );
        }
        assert_eq!(PrefixTrie::default().longest_match(b"x"), None);
    }

    #[test]
    fn acl_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Acl>();
        let acl = Acl::new(&[Policy::default_policy()]);
        let clone = acl.clone();
        assert!(Arc::ptr_eq(&acl.inner, &clone.inner));
    }
}
