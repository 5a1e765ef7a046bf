// The user-assigned identity APIM uses to call Azure OpenAI (no keys to rotate).
param name string
param location string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  // What oai-lb created (`oai-lb destroy` deletes a resource group only when it has it).
  tags: {
    'managed-by': 'oai-lb'
  }
}

output id string = identity.id
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
