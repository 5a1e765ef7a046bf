// The API Management service, running as the user-assigned identity.
param name string
param location string
param sku string
param publisherEmail string
param publisherName string
param identityId string

resource apim 'Microsoft.ApiManagement/service@2024-05-01' = {
  name: name
  location: location
  sku: {
    name: sku
    capacity: sku == 'Consumption' ? 0 : 1
  }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    publisherEmail: publisherEmail
    publisherName: publisherName
  }
  // What oai-lb created (`oai-lb destroy` deletes a resource group only when it has it).
  tags: {
    'managed-by': 'oai-lb'
  }
}

output name string = apim.name
output gatewayUrl string = apim.properties.gatewayUrl
