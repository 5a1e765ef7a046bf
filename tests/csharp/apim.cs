// Stubs of APIM's policy expression context (learn.microsoft.com/azure/api-management/
// api-management-policy-expressions#ContextVariables): the types and members `context`
// offers, typed as documented, with settable state so a harness can run expressions.
using System;
using System.Collections.Generic;
using Newtonsoft.Json.Linq;

namespace Apim
{
    public interface IUrl
    {
        string Host { get; }
        string Path { get; }
        int Port { get; }
        IReadOnlyDictionary<string, string[]> Query { get; }
        string QueryString { get; }
        string Scheme { get; }
    }

    public interface IMessageBody
    {
        T As<T>(bool preserveContent = false);
    }

    public interface IApi
    {
        string Id { get; }
        string Name { get; }
        string Path { get; }
        string Version { get; }
    }

    public interface IDeployment
    {
        string GatewayId { get; }
        string Region { get; }
        string ServiceId { get; }
        string ServiceName { get; }
    }

    public interface ILastError
    {
        string Source { get; }
        string Reason { get; }
        string Message { get; }
        string Scope { get; }
        string Section { get; }
        string Path { get; }
        string PolicyId { get; }
    }

    public interface IRequest
    {
        IMessageBody Body { get; }
        IReadOnlyDictionary<string, string[]> Headers { get; }
        string IpAddress { get; }
        string Method { get; }
        IUrl OriginalUrl { get; }
        IUrl Url { get; }
        IReadOnlyDictionary<string, string> MatchedParameters { get; }
    }

    public interface IResponse
    {
        IMessageBody Body { get; }
        IReadOnlyDictionary<string, string[]> Headers { get; }
        int StatusCode { get; }
        string StatusReason { get; }
    }

    public interface IContext
    {
        IApi Api { get; }
        IDeployment Deployment { get; }
        TimeSpan Elapsed { get; }
        ILastError LastError { get; }
        Guid RequestId { get; }
        IRequest Request { get; }
        IResponse Response { get; }
        DateTime Timestamp { get; }
        IReadOnlyDictionary<string, object> Variables { get; }
    }

    /// A validated token (`validate-jwt output-token-variable-name`).
    public class Jwt
    {
        public string Algorithm { get; set; }
        public IEnumerable<string> Audiences { get; set; }
        public IReadOnlyDictionary<string, string[]> Claims { get; set; }
        public DateTime? ExpirationTime { get; set; }
        public string Id { get; set; }
        public string Issuer { get; set; }
        public string Subject { get; set; }
        public string Type { get; set; }
    }

    /// The documented extension methods.
    public static class Extensions
    {
        /// `context.Variables.GetValueOrDefault<T>(name, default)`.
        public static T GetValueOrDefault<T>(this IReadOnlyDictionary<string, object> variables, string name, T defaultValue)
        {
            object value;
            return variables.TryGetValue(name, out value) ? (T)value : defaultValue;
        }

        /// `Headers.GetValueOrDefault(name, default)`: the values comma-joined.
        public static string GetValueOrDefault(this IReadOnlyDictionary<string, string[]> headers, string name, string defaultValue)
        {
            string[] values;
            return headers.TryGetValue(name, out values) ? string.Join(",", values) : defaultValue;
        }

        public static string GetValueOrDefault(this IReadOnlyDictionary<string, string> values, string name, string defaultValue)
        {
            string value;
            return values.TryGetValue(name, out value) ? value : defaultValue;
        }
    }

    // Concrete state for running expressions.

    public class Url : IUrl
    {
        public string Host { get; set; }
        public string Path { get; set; }
        public int Port { get; set; }
        public IReadOnlyDictionary<string, string[]> Query { get; set; }
        public string QueryString { get; set; }
        public string Scheme { get; set; }
    }

    public class Body : IMessageBody
    {
        public string Text = "";
        public T As<T>(bool preserveContent = false)
        {
            if (typeof(T) == typeof(string)) return (T)(object)Text;
            if (typeof(T) == typeof(JObject)) return (T)(object)JObject.Parse(Text);
            if (typeof(T) == typeof(JToken)) return (T)(object)JToken.Parse(Text);
            throw new NotSupportedException(typeof(T).Name);
        }
    }

    public class Api : IApi
    {
        public string Id { get; set; }
        public string Name { get; set; }
        public string Path { get; set; }
        public string Version { get; set; }
    }

    public class Deployment : IDeployment
    {
        public string GatewayId { get; set; }
        public string Region { get; set; }
        public string ServiceId { get; set; }
        public string ServiceName { get; set; }
    }

    public class LastError : ILastError
    {
        public string Source { get; set; }
        public string Reason { get; set; }
        public string Message { get; set; }
        public string Scope { get; set; }
        public string Section { get; set; }
        public string Path { get; set; }
        public string PolicyId { get; set; }
    }

    public class Headers : Dictionary<string, string[]>
    {
        public Headers() : base(StringComparer.OrdinalIgnoreCase) { }
    }

    public class Request : IRequest
    {
        public IMessageBody Body { get; set; }
        public IReadOnlyDictionary<string, string[]> Headers { get; set; }
        public string IpAddress { get; set; }
        public string Method { get; set; }
        public IUrl OriginalUrl { get; set; }
        public IUrl Url { get; set; }
        public IReadOnlyDictionary<string, string> MatchedParameters { get; set; }
    }

    public class Response : IResponse
    {
        public IMessageBody Body { get; set; }
        public IReadOnlyDictionary<string, string[]> Headers { get; set; }
        public int StatusCode { get; set; }
        public string StatusReason { get; set; }
    }

    public class Context : IContext
    {
        public IApi Api { get; set; }
        public IDeployment Deployment { get; set; }
        public TimeSpan Elapsed { get; set; }
        public ILastError LastError { get; set; }
        public Guid RequestId { get; set; }
        public IRequest Request { get; set; }
        public IResponse Response { get; set; }
        public DateTime Timestamp { get; set; }
        public Dictionary<string, object> State = new Dictionary<string, object>();
        public IReadOnlyDictionary<string, object> Variables { get { return State; } }
    }
}
