// A subscription scoped to the OpenAI API; read its keys with
// `az rest --method post --url <subscription id>/listSecrets?api-version=2024-05-01`.
param apimName string
param apiName string

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimName
}

resource subscription 'Microsoft.ApiManagement/service/subscriptions@2024-05-01' = {
  parent: apim
  name: 'oai-lb'
  properties: {
    displayName: 'oai-lb'
    scope: '${apim.id}/apis/${apiName}'
    state: 'active'
  }
}

output name string = subscription.name
