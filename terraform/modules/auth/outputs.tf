################################################################################
# User pool
################################################################################

output "user_pool_id" {
  description = "ID of the user pool, e.g. \"eu-west-1_AbCdEf123\" (aws cognito-idp --user-pool-id)."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  description = "ARN of the user pool."
  value       = aws_cognito_user_pool.this.arn
}

output "user_pool_issuer_url" {
  description = "Issuer of the pool's tokens (their iss claim), https://cognito-idp.<region>.amazonaws.com/<pool id>: the JWT authorizer's issuer."
  value       = "https://${aws_cognito_user_pool.this.endpoint}"
}

output "user_pool_jwks_url" {
  description = "The pool's signing keys (JWKS), for verifying tokens outside API Gateway (the local gateway's AUTH_JWKS_URL)."
  value       = "https://${aws_cognito_user_pool.this.endpoint}/.well-known/jwks.json"
}

output "moderators_group_name" {
  description = "Group of the people who may review flagged comments (the tokens' cognito:groups claim)."
  value       = aws_cognito_user_group.moderators.name
}

################################################################################
# Scopes and app clients
################################################################################

output "resource_server_scopes" {
  description = "The API's OAuth scopes by name: {moderate = \"toxiguard/moderate\", review = \"toxiguard/review\"}."
  value       = local.scope_identifiers
}

output "backend_client_id" {
  description = "App client ID of platform backends (client credentials, scope toxiguard/moderate); its secret is not an output, see the README."
  value       = aws_cognito_user_pool_client.backend.id
}

output "web_client_id" {
  description = "App client ID of the web page and moderator console (public client, authorization code with PKCE)."
  value       = aws_cognito_user_pool_client.web.id
}

output "web_client_scopes" {
  description = "Scopes the web page asks for at sign-in (openid and both API scopes)."
  value       = local.web_client_scopes
}

################################################################################
# Hosted UI
################################################################################

output "hosted_ui_url" {
  description = "Base URL of the hosted UI and OAuth endpoints, https://<prefix>.auth.<region>.amazoncognito.com."
  value       = local.hosted_ui_url
}

output "token_endpoint_url" {
  description = "OAuth token endpoint, <hosted_ui_url>/oauth2/token: client credentials, code exchange, refresh."
  value       = "${local.hosted_ui_url}/oauth2/token"
}
