// oai-lb as Bicep: the stack `oai-lb deploy` converges, for teams that deploy with IaC.
//
//   oai-lb policy render --config bicep/oai-lb.toml --out bicep/policy.xml
//   az deployment sub create --location eastus --template-file bicep/main.bicep \
//     --parameters bicep/main.parameters.json
//
// Resource types and api-versions are the ones the CLI calls (see tests/bicep.rs).
targetScope = 'subscription'

@description('The resource group that holds everything.')
param resourceGroupName string = 'rg-oai-lb'

@description('Region of the resource group, the identity and APIM.')
param location string = 'eastus'

@description('Globally unique APIM service name.')
param apimName string

// The names below are the CLI's (src/names.rs); tests/bicep.rs evaluates them.
@description('Name of the user-assigned identity APIM calls Azure OpenAI with.')
param identityName string = '${apimName}-identity'

@allowed([
  'Developer'
  'Basic'
  'Standard'
  'Premium'
  'BasicV2'
  'StandardV2'
  'Consumption'
])
param apimSku string = 'Developer'

param publisherEmail string
param publisherName string

@description('Path of the OpenAI API on the gateway: https://<apim>.azure-api.net/<apiPath>.')
param apiPath string = 'openai'

@description('policy: the smart policy (render bicep/policy.xml with the same strategy); pool: APIM\'s Pool backend.')
@allowed([
  'policy'
  'pool'
])
param strategy string = 'policy'

@description('Azure OpenAI accounts to create, each with its model deployments and its place in the balancing order (priority 1 is preferred).')
param openAiAccounts array

@description('[monitoring]: Log Analytics + Application Insights, the APIM logger and API diagnostic, and token metrics per backend and deployment from the policy (policy-monitoring.xml).')
param monitoring bool = false

@description('With monitoring: an existing Log Analytics workspace (ARM id) for the new Application Insights component.')
param existingWorkspaceId string = ''

@description('With monitoring: an existing Application Insights component (ARM id); nothing else is created for it.')
param existingAppInsightsId string = ''

@description('With monitoring: share of requests logged, 0-100.')
param samplingPercentage int = 100

@description('[balancer.azure]: also run oai-lb serve on Azure Container Apps (modules/container-apps.bicep).')
param containerApps bool = false

@description('With containerApps: the image whose entry point is oai-lb serve.')
param containerImage string = ''

@description('With containerApps: replica bounds and the concurrent requests per replica that add one.')
param minReplicas int = 1
param maxReplicas int = 10
param concurrentRequests int = 50

@description('With containerApps: the variable client_keys_env names, and the keys (comma-separated).')
param clientKeysEnv string = 'OAI_LB_CLIENT_KEYS'
@secure()
param clientKeys string = ''

var apiName = 'openai'
var poolId = 'oai-lb-pool'

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: resourceGroupName
  location: location
  // What oai-lb created (`oai-lb destroy` deletes a resource group only when it has it).
  tags: {
    'managed-by': 'oai-lb'
  }
}

module identity 'modules/identity.bicep' = {
  scope: rg
  name: 'oai-lb-identity'
  params: {
    name: identityName
    location: location
  }
}

module openai 'modules/openai.bicep' = [
  for account in openAiAccounts: {
    scope: rg
    name: 'oai-lb-openai-${account.name}'
    params: {
      name: account.name
      location: account.location
      deployments: account.deployments
    }
  }
]

module roles 'modules/roles.bicep' = [
  for (account, i) in openAiAccounts: {
    scope: rg
    name: 'oai-lb-roles-${account.name}'
    params: {
      accountName: openai[i].outputs.name
      principalId: identity.outputs.principalId
    }
  }
]

module apim 'modules/apim.bicep' = {
  scope: rg
  name: 'oai-lb-apim'
  params: {
    name: apimName
    location: location
    sku: apimSku
    publisherEmail: publisherEmail
    publisherName: publisherName
    identityId: identity.outputs.id
  }
}

// The list the smart policy reads; the same shape `oai-lb policy render` documents, with a
// hash that changes with the list so the policy's cooldown cache starts fresh.
var backendList = [
  for (account, i) in openAiAccounts: {
    id: account.name
    priority: account.priority
    weight: account.?weight ?? 1
    auth: 'entra'
    deployments: map(account.deployments, d => d.name)
  }
]

module namedValues 'modules/named-values.bicep' = {
  scope: rg
  name: 'oai-lb-named-values'
  params: {
    apimName: apim.outputs.name
    values: [
      {
        name: 'oai-lb-backends'
        value: string({
          hash: uniqueString(string(backendList))
          backends: backendList
        })
        secret: false
      }
      {
        name: 'oai-lb-identity-client-id'
        value: identity.outputs.clientId
        secret: false
      }
    ]
  }
}

module backends 'modules/backends.bicep' = {
  scope: rg
  name: 'oai-lb-backends'
  params: {
    apimName: apim.outputs.name
    poolId: poolId
    strategy: strategy
    backends: [
      for (account, i) in openAiAccounts: {
        id: account.name
        url: '${openai[i].outputs.endpoint}openai'
        priority: account.priority
        weight: account.?weight ?? 1
      }
    ]
  }
}

module api 'modules/api.bicep' = {
  scope: rg
  name: 'oai-lb-api'
  params: {
    apimName: apim.outputs.name
    apiName: apiName
    apiPath: apiPath
    // policy-monitoring.xml adds the token metrics (rendered from oai-lb-monitoring.toml).
    policyXml: monitoring ? loadTextContent('policy-monitoring.xml') : loadTextContent('policy.xml')
  }
  // APIM rejects a policy that names a missing named value or backend.
  dependsOn: [
    namedValues
    backends
  ]
}

module subscription 'modules/subscription.bicep' = {
  scope: rg
  name: 'oai-lb-subscription'
  params: {
    apimName: apim.outputs.name
    apiName: api.outputs.name
  }
}

module monitor 'modules/monitoring.bicep' = if (monitoring) {
  scope: rg
  name: 'oai-lb-monitoring'
  params: {
    apimName: apim.outputs.name
    apiName: api.outputs.name
    location: location
    existingWorkspaceId: existingWorkspaceId
    existingAppInsightsId: existingAppInsightsId
    samplingPercentage: samplingPercentage
  }
}

module aca 'modules/container-apps.bicep' = if (containerApps) {
  scope: rg
  name: 'oai-lb-container-apps'
  params: {
    apimName: apimName
    location: location
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    // [monitoring]'s workspace when it has one (not with an existing component alone).
    existingWorkspaceId: monitoring && empty(existingAppInsightsId) ? monitor.outputs.workspaceId : ''
    image: containerImage
    minReplicas: minReplicas
    maxReplicas: maxReplicas
    concurrentRequests: concurrentRequests
    // Rendered from oai-lb-aca.toml (tests/bicep.rs keeps it current).
    configToml: loadTextContent('oai-lb-container.toml')
    clientKeysEnv: clientKeysEnv
    clientKeys: clientKeys
  }
  // The app calls the accounts as the identity from its first request.
  dependsOn: [
    roles
  ]
}

output gatewayUrl string = '${apim.outputs.gatewayUrl}/${apiPath}'
output identityClientId string = identity.outputs.clientId
output subscriptionName string = subscription.outputs.name
output appInsightsId string = monitoring ? monitor.outputs.appInsightsId : ''
output balancerUrl string = containerApps ? aca.outputs.url : ''
