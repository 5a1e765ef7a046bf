// The named values the policy reads ({{name}}); display name = name, which is what a
// policy reference resolves.
param apimName string

@description('{ name, value, secret }')
param values array

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimName
}

resource namedValue 'Microsoft.ApiManagement/service/namedValues@2024-05-01' = [
  for v in values: {
    parent: apim
    name: v.name
    properties: {
      displayName: v.name
      value: v.value
      secret: v.secret
    }
  }
]
