// Where the page finds the moderation API. Deployment overwrites this file with the deployed API's URL;
// an empty apiUrl means the page's own origin (the local gateway serves both). Optional: requestTimeoutMs (10000).
window.TOXIGUARD_CONFIG = { apiUrl: "" };
