// Runs policy expressions (compiled into Policy.Expressions by tests/policy_csharp.rs) on
// cases read from stdin, one JSON object per line; writes "id<TAB>result" per case.
// The clock and the random source are replaced by shadows in the expressions' namespace, so
// `DateTimeOffset.UtcNow` is the case's `now` and `new Random().Next(n)` the case's ticket.
using System;
using System.Collections.Generic;
using System.Reflection;
using Apim;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Policy
{
    public class Random
    {
        public static int Ticket;
        public static int Asked = -1;
        public int Next(int maxValue)
        {
            Asked = maxValue;
            if (Ticket >= maxValue) throw new ArgumentOutOfRangeException("ticket");
            return Ticket;
        }
    }

    public struct DateTimeOffset
    {
        public static long NowMs;
        readonly System.DateTimeOffset inner;
        DateTimeOffset(System.DateTimeOffset inner) { this.inner = inner; }
        public static DateTimeOffset UtcNow { get { return new DateTimeOffset(System.DateTimeOffset.FromUnixTimeMilliseconds(NowMs)); } }
        public long ToUnixTimeMilliseconds() { return inner.ToUnixTimeMilliseconds(); }
        public static bool TryParse(string text, out DateTimeOffset result)
        {
            System.DateTimeOffset parsed;
            var ok = System.DateTimeOffset.TryParse(text, out parsed);
            result = new DateTimeOffset(parsed);
            return ok;
        }
        public static TimeSpan operator -(DateTimeOffset a, DateTimeOffset b) { return a.inner - b.inner; }
    }

    public static class Harness
    {
        static object Variable(JToken token)
        {
            // {"$jwt": {claim: value}}: a token validate-jwt stored.
            var jwt = token is JObject ? token["$jwt"] as JObject : null;
            if (jwt != null)
            {
                var claims = new Dictionary<string, string[]>();
                foreach (JProperty p in jwt.Properties()) claims[p.Name] = new[] { (string)p.Value };
                return new Jwt { Claims = claims };
            }
            switch (token.Type)
            {
                case JTokenType.String: return (string)token;
                case JTokenType.Integer: return (int)token;
                case JTokenType.Boolean: return (bool)token;
                default: return token;
            }
        }

        static Headers ToHeaders(JToken token)
        {
            var headers = new Headers();
            if (token == null) return headers;
            foreach (JProperty p in ((JObject)token).Properties()) headers[p.Name] = new[] { (string)p.Value };
            return headers;
        }

        static string Show(object result)
        {
            if (result == null) return "null";
            var token = result as JToken;
            if (token != null) return token.ToString(Formatting.None);
            return result.ToString();
        }

        public static int Main()
        {
            string line;
            while ((line = Console.ReadLine()) != null)
            {
                if (line.Trim().Length == 0) continue;
                var c = JObject.Parse(line);
                var context = new Context
                {
                    Api = new Api { Id = "oai-lb-openai", Name = "oai-lb-openai", Path = "openai" },
                    Deployment = new Deployment { Region = "East US", ServiceName = "apim-test" },
                };
                var vars = c["vars"] as JObject;
                if (vars != null)
                    foreach (JProperty p in vars.Properties()) context.State[p.Name] = Variable(p.Value);
                var path = c.Value<string>("path") ?? "/openai/models";
                context.Request = new Request
                {
                    Method = "POST",
                    Headers = ToHeaders(c["request_headers"]),
                    OriginalUrl = new Url { Scheme = "https", Host = "gw", Path = path, Port = 443 },
                    Url = new Url { Scheme = "https", Host = "gw", Path = path, Port = 443 },
                    Body = new Body { Text = c.Value<string>("body") ?? "" },
                };
                if (c["status"] != null)
                    context.Response = new Response { StatusCode = c.Value<int>("status"), Headers = ToHeaders(c["headers"]), Body = new Body() };
                DateTimeOffset.NowMs = c.Value<long>("now");
                var method = typeof(Expressions).GetMethod(c.Value<string>("expr"));
                if (method == null) throw new Exception("no expression " + c.Value<string>("expr"));
                string result;
                try
                {
                    Random.Asked = -1;
                    Random.Ticket = 0;
                    var first = Show(method.Invoke(null, new object[] { context }));
                    if (Random.Asked < 0)
                    {
                        result = first;
                    }
                    else
                    {
                        // Weighted random: the answer for every ticket the expression can draw.
                        var all = new JArray();
                        var n = Random.Asked;
                        for (var t = 0; t < n; t++)
                        {
                            Random.Ticket = t;
                            all.Add(Show(method.Invoke(null, new object[] { context })));
                        }
                        result = all.ToString(Formatting.None);
                    }
                }
                catch (TargetInvocationException e)
                {
                    result = "exception: " + e.InnerException.GetType().Name + ": " + e.InnerException.Message.Replace("\n", " ");
                }
                Console.WriteLine(c.Value<string>("id") + "\t" + result);
            }
            return 0;
        }
    }
}
