// The OpenAI API (clients send their subscription key as api-key, as to Azure OpenAI)
// and its policy, rendered by `oai-lb policy render`.
param apimName string
param apiName string
param apiPath string
param policyXml string

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimName
}

resource api 'Microsoft.ApiManagement/service/apis@2024-05-01' = {
  parent: apim
  name: apiName
  properties: {
    displayName: 'Azure OpenAI (oai-lb)'
    path: apiPath
    protocols: [
      'https'
    ]
    subscriptionRequired: true
    subscriptionKeyParameterNames: {
      header: 'api-key'
      query: 'api-key'
    }
    format: 'openapi+json'
    value: loadTextContent('../openai-api.json')
  }
}

// Well-formed XML with escaped expressions, hence format xml (rawxml expects them raw).
resource policy 'Microsoft.ApiManagement/service/apis/policies@2024-05-01' = {
  parent: api
  name: 'policy'
  properties: {
    format: 'xml'
    value: policyXml
  }
}

output name string = api.name
