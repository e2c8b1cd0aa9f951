//! The platform's auditable resources and their logged actions, from its
//! audit-log documentation, with the display names people see.
//!
//! The catalogue is for display and for the sample generator; ingest never
//! rejects a resource type or action that is not listed here.

/// (internal name, display name, documented actions)
pub const RESOURCES: &[(&str, &str, &[&str])] = &[
    (
        "trace",
        "Trace",
        &["bookmark", "delete", "publish", "updateTags"],
    ),
    ("session", "Session", &["bookmark", "publish"]),
    ("score", "Score", &["create", "delete", "update"]),
    ("scoreConfig", "Score Config", &["create", "update"]),
    ("dataset", "Dataset", &["create", "delete", "update"]),
    (
        "datasetItem",
        "Dataset Item",
        &["create", "delete", "update"],
    ),
    ("datasetRun", "Dataset Run", &["delete"]),
    ("comment", "Comment", &["create", "delete"]),
    (
        "prompt",
        "Prompt",
        &[
            "create",
            "delete",
            "promote",
            "setLabel",
            "update",
            "updateTags",
        ],
    ),
    (
        "promptProtectedLabel",
        "Prompt Protected Label",
        &["create"],
    ),
    ("evalTemplate", "Evaluation Template", &["create"]),
    (
        "job",
        "Job (Evaluation Jobs)",
        &["create", "delete", "update"],
    ),
    (
        "annotationQueue",
        "Annotation Queue",
        &["create", "delete", "update"],
    ),
    (
        "annotationQueueItem",
        "Annotation Queue Item",
        &["complete", "create", "delete"],
    ),
    (
        "organization",
        "Organization",
        &["create", "delete", "update"],
    ),
    (
        "project",
        "Project",
        &["create", "delete", "transfer", "update"],
    ),
    (
        "orgMembership",
        "Organization Membership",
        &["create", "delete", "update"],
    ),
    (
        "projectMembership",
        "Project Membership",
        &["create", "delete", "update"],
    ),
    (
        "membershipInvitation",
        "Membership Invitation",
        &["create", "delete"],
    ),
    ("apiKey", "API Key", &["create", "delete", "update"]),
    ("llmApiKey", "LLM API Key", &["create", "delete"]),
    ("model", "Model", &["create", "delete", "update"]),
    ("batchExport", "Batch Export", &["create"]),
    ("batchAction", "Batch Action", &["create", "delete"]),
    (
        "blobStorageIntegration",
        "Blob Storage Integration",
        &["update"],
    ),
    (
        "posthogIntegration",
        "PostHog Integration",
        &["delete", "update"],
    ),
    (
        "stripeCheckoutSession",
        "Stripe Checkout Session",
        &["create"],
    ),
];

/// Resource types seen in real exports beyond the documented table.
const OTHER_KNOWN: &[(&str, &str)] = &[
    ("annotationQueueAssignment", "Annotation Queue Assignment"),
    ("observation", "Observation"),
    ("notificationPreference", "Notification Preference"),
    ("mixpanelIntegration", "Mixpanel Integration"),
    ("webCalloutEndpoint", "Web Callout Endpoint"),
    ("llmTool", "LLM Tool"),
    ("llmSchema", "LLM Schema"),
    ("automation", "Automation"),
    ("action", "Action"),
    ("dashboardWidget", "Dashboard Widget"),
    ("dashboard", "Dashboard"),
    ("slackIntegration", "Slack Integration"),
    ("cloudSpendAlert", "Cloud Spend Alert"),
    ("verifiedDomain", "Verified Domain"),
    ("ssoConfig", "SSO Config"),
    ("membership", "Membership (legacy)"),
];

/// The display name of a resource type; an unknown type is shown verbatim.
pub fn display_name(resource_type: &str) -> &str {
    RESOURCES
        .iter()
        .map(|(k, d, _)| (*k, *d))
        .chain(OTHER_KNOWN.iter().copied())
        .find(|(k, _)| *k == resource_type)
        .map(|(_, d)| d)
        .unwrap_or(resource_type)
}

/// Is this (resource type, action) pair in the platform's documented table?
pub fn is_documented(resource_type: &str, action: &str) -> bool {
    RESOURCES
        .iter()
        .any(|(k, _, actions)| *k == resource_type && actions.contains(&action))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            display_name("promptProtectedLabel"),
            "Prompt Protected Label"
        );
        assert_eq!(display_name("apiKey"), "API Key");
        assert_eq!(display_name("somethingNew"), "somethingNew");
        assert!(is_documented("prompt", "promote"));
        assert!(!is_documented("prompt", "download"));
        let pairs: usize = RESOURCES.iter().map(|(_, _, a)| a.len()).sum();
        assert_eq!(pairs, 67);
    }
}
