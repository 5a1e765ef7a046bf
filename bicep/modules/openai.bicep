// One Azure OpenAI account and its model deployments.
param name string
param location string

@description('Model deployments: { name, model, version, sku?, capacity? }.')
param deployments array

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: name
    publicNetworkAccess: 'Enabled'
  }
  // What oai-lb created (`oai-lb destroy` deletes a resource group only when it has it).
  tags: {
    'managed-by': 'oai-lb'
  }
}

// One at a time: an account accepts a single deployment change at once.
@batchSize(1)
resource deployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = [
  for d in deployments: {
    parent: account
    name: d.name
    sku: {
      name: d.?sku ?? 'GlobalStandard'
      capacity: d.?capacity ?? 10
    }
    properties: {
      model: {
        format: 'OpenAI'
        name: d.model
        version: d.version
      }
      // Azure must not upgrade a model behind our back (it would show as drift).
      versionUpgradeOption: 'NoAutoUpgrade'
    }
  }
]

output name string = account.name
output endpoint string = account.properties.endpoint
