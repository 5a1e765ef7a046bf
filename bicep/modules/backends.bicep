// One APIM backend per Azure OpenAI endpoint, each with a circuit breaker that honours
// Retry-After, and the pool that lists them by priority and weight (pool strategy).
param apimName string
param poolId string

@description('policy: the smart policy picks a backend (no circuit breakers: they would undo per-deployment cooldowns); pool: a Pool backend with circuit breakers.')
@allowed([
  'policy'
  'pool'
])
param strategy string = 'policy'

@description('{ id, url, priority, weight }; url ends in /openai.')
param backends array

resource apim 'Microsoft.ApiManagement/service@2024-05-01' existing = {
  name: apimName
}

resource single 'Microsoft.ApiManagement/service/backends@2024-05-01' = [
  for b in backends: {
    parent: apim
    name: b.id
    properties: {
      type: 'Single'
      url: b.url
      protocol: 'http'
      circuitBreaker: strategy != 'pool' ? null : {
        rules: [
          {
            name: 'throttled'
            failureCondition: {
              count: 1
              interval: 'PT10S'
              statusCodeRanges: [
                {
                  min: 429
                  max: 429
                }
                {
                  min: 500
                  max: 599
                }
              ]
            }
            tripDuration: 'PT10S'
            acceptRetryAfter: true
          }
        ]
      }
    }
  }
]

// A pool is sent without url and protocol.
resource pool 'Microsoft.ApiManagement/service/backends@2024-05-01' = if (strategy == 'pool') {
  parent: apim
  name: poolId
  properties: {
    type: 'Pool'
    pool: {
      services: [
        for (b, i) in backends: {
          id: single[i].id
          priority: b.priority
          weight: b.weight
        }
      ]
    }
  }
}
