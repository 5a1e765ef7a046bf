// Stubs of the Newtonsoft.Json types APIM policy expressions may use, with the members the
// oai-lb policies call and enough behaviour (parse, index, convert, serialize) to run them.
// Not Newtonsoft: real Newtonsoft.Json is not available offline. Signatures follow its API.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Newtonsoft.Json
{
    public enum Formatting { None, Indented }
}

namespace Newtonsoft.Json.Linq
{
    using Newtonsoft.Json;

    public enum JTokenType { None, Object, Array, Constructor, Property, Comment, Integer, Float, String, Boolean, Null, Undefined, Date, Raw, Bytes, Guid, Uri, TimeSpan }

    public abstract class JToken : IEnumerable<JToken>
    {
        public abstract JTokenType Type { get; }

        public virtual JToken this[object key]
        {
            get { throw new InvalidOperationException("Cannot access child value on " + GetType().Name); }
            set { throw new InvalidOperationException("Cannot set child value on " + GetType().Name); }
        }

        public virtual IEnumerator<JToken> GetEnumerator() { return new List<JToken>().GetEnumerator(); }
        IEnumerator IEnumerable.GetEnumerator() { return GetEnumerator(); }

        /// Newtonsoft's JToken.Value<T>(key): the child converted, default(T) when missing.
        public T Value<T>(object key)
        {
            return Convert<T>(this[key]);
        }

        internal static T Convert<T>(JToken token)
        {
            if (token == null || token.Type == JTokenType.Null)
            {
                if (default(T) == null) return default(T);
                throw new InvalidCastException("null to " + typeof(T));
            }
            var type = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
            if (typeof(JToken).IsAssignableFrom(type)) return (T)(object)token;
            var value = token as JValue;
            if (value == null) throw new InvalidCastException("Cannot cast " + token.GetType().Name + " to " + type);
            if (type == typeof(string)) return (T)(object)(value.Raw == null ? null : System.Convert.ToString(value.Raw, CultureInfo.InvariantCulture));
            return (T)System.Convert.ChangeType(value.Raw, type, CultureInfo.InvariantCulture);
        }

        public static JToken FromObject(object o) { return o as JToken ?? new JValue(o); }

        public static implicit operator JToken(string v) { return new JValue(v); }
        public static implicit operator JToken(long v) { return new JValue(v); }
        public static implicit operator JToken(int v) { return new JValue((long)v); }
        public static implicit operator JToken(double v) { return new JValue(v); }
        public static implicit operator JToken(bool v) { return new JValue(v); }

        public static explicit operator string(JToken t) { return Convert<string>(t); }
        public static explicit operator long(JToken t) { return Convert<long>(t); }
        public static explicit operator int(JToken t) { return Convert<int>(t); }
        public static explicit operator double(JToken t) { return Convert<double>(t); }
        public static explicit operator bool(JToken t) { return Convert<bool>(t); }
        public static explicit operator long?(JToken t) { return Convert<long?>(t); }
        public static explicit operator int?(JToken t) { return Convert<int?>(t); }

        public static JToken Parse(string json) { return new Parser(json).Document(); }

        public override string ToString() { return ToString(Formatting.Indented); }
        public string ToString(Formatting formatting)
        {
            var sb = new StringBuilder();
            Write(sb);
            return sb.ToString();
        }
        internal abstract void Write(StringBuilder sb);
    }

    public class JValue : JToken
    {
        internal readonly object Raw;
        public JValue(object value) { Raw = value; }
        public object Value { get { return Raw; } }
        public override JTokenType Type
        {
            get
            {
                if (Raw == null) return JTokenType.Null;
                if (Raw is string) return JTokenType.String;
                if (Raw is bool) return JTokenType.Boolean;
                if (Raw is double) return JTokenType.Float;
                return JTokenType.Integer;
            }
        }
        internal override void Write(StringBuilder sb)
        {
            if (Raw == null) sb.Append("null");
            else if (Raw is string) Quote(sb, (string)Raw);
            else if (Raw is bool) sb.Append((bool)Raw ? "true" : "false");
            else if (Raw is double) sb.Append(((double)Raw).ToString("R", CultureInfo.InvariantCulture));
            else sb.Append(System.Convert.ToString(Raw, CultureInfo.InvariantCulture));
        }
        internal static void Quote(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (var c in s)
            {
                if (c == '"') sb.Append("\\\"");
                else if (c == '\\') sb.Append("\\\\");
                else if (c < ' ') sb.AppendFormat("\\u{0:x4}", (int)c);
                else sb.Append(c);
            }
            sb.Append('"');
        }
    }

    public class JProperty : JToken
    {
        public string Name { get; private set; }
        public JToken Value { get; set; }
        public JProperty(string name, object content) { Name = name; Value = FromObject(content); }
        public override JTokenType Type { get { return JTokenType.Property; } }
        internal override void Write(StringBuilder sb) { JValue.Quote(sb, Name); sb.Append(':'); Value.Write(sb); }
    }

    public class JObject : JToken
    {
        readonly List<JProperty> properties = new List<JProperty>();
        public JObject() { }
        public JObject(params object[] content)
        {
            foreach (var c in content) Add((JProperty)c);
        }
        public override JTokenType Type { get { return JTokenType.Object; } }
        public void Add(JProperty p) { this[p.Name] = p.Value; }
        public IEnumerable<JProperty> Properties() { return new List<JProperty>(properties); }
        public int Count { get { return properties.Count; } }
        public bool ContainsKey(string name) { return properties.Exists(p => p.Name == name); }
        public bool Remove(string name) { return properties.RemoveAll(p => p.Name == name) > 0; }
        public JToken this[string name]
        {
            get { var p = properties.Find(x => x.Name == name); return p == null ? null : p.Value; }
            set
            {
                var p = properties.Find(x => x.Name == name);
                if (p == null) properties.Add(new JProperty(name, value ?? new JValue(null)));
                else p.Value = value ?? new JValue(null);
            }
        }
        public override JToken this[object key]
        {
            get { return this[(string)key]; }
            set { this[(string)key] = value; }
        }
        public override IEnumerator<JToken> GetEnumerator()
        {
            foreach (var p in properties) yield return p;
        }
        public static new JObject Parse(string json)
        {
            var token = JToken.Parse(json) as JObject;
            if (token == null) throw new FormatException("not a JSON object");
            return token;
        }
        internal override void Write(StringBuilder sb)
        {
            sb.Append('{');
            for (var i = 0; i < properties.Count; i++)
            {
                if (i > 0) sb.Append(',');
                properties[i].Write(sb);
            }
            sb.Append('}');
        }
    }

    public class JArray : JToken
    {
        readonly List<JToken> items = new List<JToken>();
        public JArray() { }
        public JArray(params object[] content) { foreach (var c in content) items.Add(FromObject(c)); }
        public override JTokenType Type { get { return JTokenType.Array; } }
        public int Count { get { return items.Count; } }
        public void Add(JToken item) { items.Add(item); }
        public JToken this[int index] { get { return items[index]; } set { items[index] = value; } }
        public override JToken this[object key]
        {
            get { return items[(int)key]; }
            set { items[(int)key] = value; }
        }
        public override IEnumerator<JToken> GetEnumerator() { return items.GetEnumerator(); }
        public static new JArray Parse(string json)
        {
            var token = JToken.Parse(json) as JArray;
            if (token == null) throw new FormatException("not a JSON array");
            return token;
        }
        internal override void Write(StringBuilder sb)
        {
            sb.Append('[');
            for (var i = 0; i < items.Count; i++)
            {
                if (i > 0) sb.Append(',');
                items[i].Write(sb);
            }
            sb.Append(']');
        }
    }

    /// A small strict JSON reader (objects, arrays, strings with escapes, numbers, literals).
    class Parser
    {
        readonly string s;
        int i;
        public Parser(string text) { s = text; }

        public JToken Document()
        {
            var v = Value();
            Space();
            if (i != s.Length) throw new FormatException("trailing text at " + i);
            return v;
        }

        void Space() { while (i < s.Length && char.IsWhiteSpace(s[i])) i++; }

        JToken Value()
        {
            Space();
            if (i >= s.Length) throw new FormatException("unexpected end");
            var c = s[i];
            if (c == '{')
            {
                i++;
                var o = new JObject();
                Space();
                if (s[i] == '}') { i++; return o; }
                while (true)
                {
                    Space();
                    var name = String();
                    Space();
                    Expect(':');
                    o[name] = Value();
                    Space();
                    if (s[i] == ',') { i++; continue; }
                    Expect('}');
                    return o;
                }
            }
            if (c == '[')
            {
                i++;
                var a = new JArray();
                Space();
                if (s[i] == ']') { i++; return a; }
                while (true)
                {
                    a.Add(Value());
                    Space();
                    if (s[i] == ',') { i++; continue; }
                    Expect(']');
                    return a;
                }
            }
            if (c == '"') return new JValue(String());
            if (Literal("true")) return new JValue(true);
            if (Literal("false")) return new JValue(false);
            if (Literal("null")) return new JValue(null);
            var start = i;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0) i++;
            var text = s.Substring(start, i - start);
            long l;
            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return new JValue(l);
            double d;
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out d)) return new JValue(d);
            throw new FormatException("bad JSON value at " + start);
        }

        bool Literal(string word)
        {
            if (string.CompareOrdinal(s, i, word, 0, word.Length) != 0) return false;
            i += word.Length;
            return true;
        }

        void Expect(char c)
        {
            if (i >= s.Length || s[i] != c) throw new FormatException("expected " + c + " at " + i);
            i++;
        }

        string String()
        {
            Expect('"');
            var sb = new StringBuilder();
            while (s[i] != '"')
            {
                if (s[i] == '\\')
                {
                    i++;
                    var e = s[i++];
                    switch (e)
                    {
                        case 'n': sb.Append('\n'); break;
                        case 't': sb.Append('\t'); break;
                        case 'r': sb.Append('\r'); break;
                        case 'b': sb.Append('\b'); break;
                        case 'f': sb.Append('\f'); break;
                        case 'u': sb.Append((char)Convert.ToInt32(s.Substring(i, 4), 16)); i += 4; break;
                        default: sb.Append(e); break;
                    }
                }
                else sb.Append(s[i++]);
            }
            i++;
            return sb.ToString();
        }
    }
}
