// Where the page finds the moderation API and how it signs in. Deployment (and the local gateway) writes its own;
// an empty apiUrl means the page's own origin. The auth shapes and optional keys: frontend/README.md.
window.TOXIGUARD_CONFIG = { apiUrl: "", auth: { mode: "none" } };
