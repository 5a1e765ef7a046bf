// [monitoring]: a Log Analytics workspace and a workspace-based Application Insights
// component (or existing ones, by id), the APIM logger that sends to the component (its
// connection string kept in a secret named value), and the OpenAI API's diagnostic with
// custom metrics on, so the policy's azure-openai-emit-token-metric reaches Application
// Insights. Names and logged headers are the CLI's (src/names.rs, src/azure/monitoring.rs;
// tests/bicep.rs checks them).
param apimName string
param apiName string
param location string

@description('An existing Log Analytics workspace (ARM id) for the new component; empty: create one.')
param existingWorkspaceId string = ''

@description('An existing Application Insights component (ARM id); empty: create one.')
param existingAppInsightsId string = ''

@description('Share of requests logged, 0-100.')
@minValue(0)
@maxValue(100)
param samplingPercentage int = 100

var useExistingComponent = !empty(existingAppInsightsId)
var createWorkspace = !useExistingComponent && empty(existingWorkspaceId)
var componentParts = split(useExistingComponent ? existingAppInsightsId : '/subscriptions/-/resourceGroups/-/providers/Microsoft.Insights/components/-', '/')

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimName
}

resource api 'Microsoft.ApiManagement/service/apis@2024-05-01' existing = {
  parent: apim
  name: apiName
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-07-01' = if (createWorkspace) {
  name: '${apimName}-logs'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource component 'Microsoft.Insights/components@2020-02-02' = if (!useExistingComponent) {
  name: '${apimName}-insights'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: createWorkspace ? workspace.id : existingWorkspaceId
    IngestionMode: 'LogAnalytics'
  }
}

resource existingComponent 'Microsoft.Insights/components@2020-02-02' existing = if (useExistingComponent) {
  name: componentParts[8]
  scope: resourceGroup(componentParts[2], componentParts[4])
}

var componentId = useExistingComponent ? existingAppInsightsId : component.id

// The logger names the connection string instead of holding it.
resource connectionString 'Microsoft.ApiManagement/service/namedValues@2024-05-01' = {
  parent: apim
  name: 'oai-lb-appinsights-connection-string'
  properties: {
    displayName: 'oai-lb-appinsights-connection-string'
    value: useExistingComponent ? existingComponent.properties.ConnectionString : component.properties.ConnectionString
    secret: true
  }
}

resource logger 'Microsoft.ApiManagement/service/loggers@2024-05-01' = {
  parent: apim
  name: 'oai-lb-appinsights'
  properties: {
    loggerType: 'applicationInsights'
    description: 'oai-lb: gateway logs and token metrics'
    credentials: {
      connectionString: '{{${connectionString.name}}}'
    }
    isBuffered: true
    resourceId: componentId
  }
}

// Headers that explain a request's path through the balancer; never api-key or
// Authorization, no bodies, and the api-key query parameter hidden.
var requestMessage = {
  headers: [
    'x-ms-client-request-id'
    'x-oai-lb-show-backend'
    'traceparent'
  ]
  dataMasking: {
    queryParams: [
      {
        value: 'api-key'
        mode: 'Hide'
      }
    ]
  }
}
var responseMessage = {
  headers: [
    'x-oai-lb-backend'
    'x-oai-lb-attempts'
    'x-openai-backend-id'
    'retry-after'
    'retry-after-ms'
    'x-ms-retry-after-ms'
    'x-ratelimit-remaining-requests'
    'x-ratelimit-remaining-tokens'
    'x-ratelimit-reset-requests'
    'x-ratelimit-reset-tokens'
    'x-ms-region'
    'x-ms-client-request-id'
    'apim-request-id'
  ]
}

resource diagnostic 'Microsoft.ApiManagement/service/apis/diagnostics@2024-05-01' = {
  parent: api
  name: 'applicationinsights'
  properties: {
    loggerId: logger.id
    alwaysLog: 'allErrors'
    sampling: {
      samplingType: 'fixed'
      percentage: samplingPercentage
    }
    frontend: {
      request: requestMessage
      response: responseMessage
    }
    backend: {
      request: requestMessage
      response: responseMessage
    }
    logClientIp: false
    httpCorrelationProtocol: 'W3C'
    verbosity: 'information'
    operationNameFormat: 'Name'
    metrics: true
  }
}

output appInsightsId string = componentId
output workspaceId string = useExistingComponent ? existingComponent.properties.WorkspaceResourceId : (createWorkspace ? workspace.id : existingWorkspaceId)
