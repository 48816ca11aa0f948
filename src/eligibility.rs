//! Which agents and interactions may get a prompt. Runs before any network I/O.

use std::collections::{BTreeMap, HashSet};

use crate::config::EligibilitySettings;

/// The rule that failed, worded for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ineligible {
    pub reason: String,
}

/// Skills per agent: a default profile with per-agent replacements from configuration.
#[derive(Debug, Clone)]
pub struct EligibilityPolicy {
    min_sentiment: f64,
    required_skills: Vec<String>,
    default_skills: HashSet<String>,
    agents: BTreeMap<String, HashSet<String>>,
}

impl EligibilityPolicy {
    pub fn new(settings: &EligibilitySettings) -> Self {
        Self {
            min_sentiment: settings.min_sentiment,
            required_skills: settings.required_skills.clone(),
            default_skills: settings.default_skills.iter().cloned().collect(),
            agents: settings
                .agents
                .iter()
                .map(|(agent, skills)| (agent.clone(), skills.iter().cloned().collect()))
                .collect(),
        }
    }

    pub fn check(&self, agent_id: &str, sentiment: f64) -> Result<(), Ineligible> {
        if sentiment < self.min_sentiment {
            return Err(Ineligible {
                reason: format!(
                    "sentiment {sentiment} is below the minimum {}",
                    self.min_sentiment
                ),
            });
        }
        let skills = self.agents.get(agent_id).unwrap_or(&self.default_skills);
        let missing: Vec<&str> = self
            .required_skills
            .iter()
            .filter(|s| !skills.contains(s.as_str()))
            .map(String::as_str)
            .collect();
        match missing.as_slice() {
            [] => Ok(()),
            [one] => Err(Ineligible {
                reason: format!("agent {agent_id} lacks skill {one}"),
            }),
            many => Err(Ineligible {
                reason: format!("agent {agent_id} lacks skills {}", many.join(", ")),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(required: &[&str]) -> EligibilityPolicy {
        let mut settings = EligibilitySettings {
            required_skills: required.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        settings
            .agents
            .insert("agt_1".into(), vec!["technical_support".into()]);
        EligibilityPolicy::new(&settings)
    }

    #[test]
    fn sentiment_below_the_minimum_is_refused_with_both_numbers() {
        let err = policy(&["billing"]).check("agt_9", -0.45).unwrap_err();
        assert_eq!(err.reason, "sentiment -0.45 is below the minimum -0.3");
        assert!(policy(&["billing"]).check("agt_9", -0.3).is_ok());
    }

    #[test]
    fn default_profile_applies_to_unlisted_agents() {
        assert!(policy(&["billing", "escalation"])
            .check("agt_9", 0.0)
            .is_ok());
    }

    #[test]
    fn per_agent_override_replaces_the_default_profile() {
        let err = policy(&["billing"]).check("agt_1", 0.0).unwrap_err();
        assert_eq!(err.reason, "agent agt_1 lacks skill billing");
        let err = policy(&["fraud", "billing"])
            .check("agt_1", 0.0)
            .unwrap_err();
        assert_eq!(err.reason, "agent agt_1 lacks skills fraud, billing");
    }
}
