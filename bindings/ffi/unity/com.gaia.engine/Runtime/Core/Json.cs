// A minimal JSON reader for the wire format: objects become
// Dictionary<string, object>, arrays List<object>, numbers long or double,
// plus string, bool and null. No dependency beyond the base library.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Gaia
{
    public static class Json
    {
        public static object Parse(string text)
        {
            var reader = new Reader(text);
            var value = reader.Value();
            reader.SkipSpace();
            if (!reader.AtEnd)
            {
                throw new FormatException("trailing characters in JSON");
            }
            return value;
        }

        public static Dictionary<string, object> ParseObject(string text)
        {
            var value = Parse(text) as Dictionary<string, object>;
            if (value == null)
            {
                throw new FormatException("expected a JSON object");
            }
            return value;
        }

        /// <summary>A JSON string literal for <paramref name="text"/>.</summary>
        public static string Quote(string text)
        {
            var builder = new StringBuilder("\"");
            foreach (var c in text)
            {
                switch (c)
                {
                    case '"': builder.Append("\\\""); break;
                    case '\\': builder.Append("\\\\"); break;
                    case '\n': builder.Append("\\n"); break;
                    case '\r': builder.Append("\\r"); break;
                    case '\t': builder.Append("\\t"); break;
                    default:
                        if (c < ' ')
                        {
                            builder.Append("\\u").Append(((int)c).ToString("x4"));
                        }
                        else
                        {
                            builder.Append(c);
                        }
                        break;
                }
            }
            return builder.Append('"').ToString();
        }

        internal static string String(Dictionary<string, object> o, string key)
        {
            object value;
            return o.TryGetValue(key, out value) ? value as string : null;
        }

        internal static long? Long(Dictionary<string, object> o, string key)
        {
            object value;
            if (!o.TryGetValue(key, out value) || value == null) return null;
            if (value is long) return (long)value;
            if (value is double) return (long)(double)value;
            return null;
        }

        internal static double? Double(Dictionary<string, object> o, string key)
        {
            object value;
            if (!o.TryGetValue(key, out value) || value == null) return null;
            if (value is long) return (long)value;
            if (value is double) return (double)value;
            return null;
        }

        internal static bool? Bool(Dictionary<string, object> o, string key)
        {
            object value;
            return o.TryGetValue(key, out value) && value is bool ? (bool?)(bool)value : null;
        }

        internal static Dictionary<string, object> Object(Dictionary<string, object> o, string key)
        {
            object value;
            return o.TryGetValue(key, out value) ? value as Dictionary<string, object> : null;
        }

        internal static List<string> Strings(Dictionary<string, object> o, string key)
        {
            var result = new List<string>();
            object value;
            if (o.TryGetValue(key, out value) && value is List<object>)
            {
                foreach (var item in (List<object>)value)
                {
                    var s = item as string;
                    if (s != null) result.Add(s);
                }
            }
            return result;
        }

        private sealed class Reader
        {
            private readonly string text;
            private int at;

            public Reader(string text)
            {
                this.text = text ?? throw new ArgumentNullException("text");
            }

            public bool AtEnd { get { return at >= text.Length; } }

            public void SkipSpace()
            {
                while (at < text.Length && char.IsWhiteSpace(text[at])) at++;
            }

            private char Next()
            {
                if (at >= text.Length) throw new FormatException("unexpected end of JSON");
                return text[at++];
            }

            private void Expect(string word)
            {
                if (string.CompareOrdinal(text, at, word, 0, word.Length) != 0)
                    throw new FormatException("unexpected JSON at " + at);
                at += word.Length;
            }

            public object Value()
            {
                SkipSpace();
                if (AtEnd) throw new FormatException("unexpected end of JSON");
                var c = text[at];
                switch (c)
                {
                    case '{': return ObjectValue();
                    case '[': return ArrayValue();
                    case '"': return StringValue();
                    case 't': Expect("true"); return true;
                    case 'f': Expect("false"); return false;
                    case 'n': Expect("null"); return null;
                    default: return NumberValue();
                }
            }

            private Dictionary<string, object> ObjectValue()
            {
                var result = new Dictionary<string, object>();
                at++;
                SkipSpace();
                if (text[at] == '}') { at++; return result; }
                while (true)
                {
                    SkipSpace();
                    var key = StringValue();
                    SkipSpace();
                    if (Next() != ':') throw new FormatException("expected ':' at " + at);
                    result[key] = Value();
                    SkipSpace();
                    var c = Next();
                    if (c == '}') return result;
                    if (c != ',') throw new FormatException("expected ',' at " + at);
                }
            }

            private List<object> ArrayValue()
            {
                var result = new List<object>();
                at++;
                SkipSpace();
                if (text[at] == ']') { at++; return result; }
                while (true)
                {
                    result.Add(Value());
                    SkipSpace();
                    var c = Next();
                    if (c == ']') return result;
                    if (c != ',') throw new FormatException("expected ',' at " + at);
                }
            }

            private string StringValue()
            {
                if (Next() != '"') throw new FormatException("expected a string at " + at);
                var builder = new StringBuilder();
                while (true)
                {
                    var c = Next();
                    if (c == '"') return builder.ToString();
                    if (c != '\\') { builder.Append(c); continue; }
                    c = Next();
                    switch (c)
                    {
                        case '"': builder.Append('"'); break;
                        case '\\': builder.Append('\\'); break;
                        case '/': builder.Append('/'); break;
                        case 'b': builder.Append('\b'); break;
                        case 'f': builder.Append('\f'); break;
                        case 'n': builder.Append('\n'); break;
                        case 'r': builder.Append('\r'); break;
                        case 't': builder.Append('\t'); break;
                        case 'u':
                            if (at + 4 > text.Length) throw new FormatException("bad \\u escape");
                            builder.Append((char)int.Parse(text.Substring(at, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                            at += 4;
                            break;
                        default: throw new FormatException("bad escape at " + at);
                    }
                }
            }

            private object NumberValue()
            {
                var start = at;
                while (at < text.Length && "+-0123456789.eE".IndexOf(text[at]) >= 0) at++;
                var token = text.Substring(start, at - start);
                if (token.Length == 0) throw new FormatException("unexpected JSON at " + start);
                long integer;
                if (token.IndexOfAny(new[] { '.', 'e', 'E' }) < 0 &&
                    long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out integer))
                {
                    return integer;
                }
                return double.Parse(token, NumberStyles.Float, CultureInfo.InvariantCulture);
            }
        }
    }
}
