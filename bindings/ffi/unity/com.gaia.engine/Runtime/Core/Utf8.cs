// UTF-8 strings to and from the C ABI.
using System.Text;

namespace Gaia
{
    internal static unsafe class Utf8
    {
        /// <summary>A NUL-terminated UTF-8 copy of a string (null stays null).</summary>
        public static byte[] Bytes(string text)
        {
            if (text == null)
            {
                return null;
            }
            var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
            Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
            return bytes;
        }

        /// <summary>Reads a NUL-terminated UTF-8 string (NULL gives null).</summary>
        public static string ToString(byte* text)
        {
            if (text == null)
            {
                return null;
            }
            var length = 0;
            while (text[length] != 0)
            {
                length++;
            }
            return Encoding.UTF8.GetString(text, length);
        }
    }
}
