// The one exception every Gaia call throws: the stable error code of the
// shared wire format and its C status number.
using System;
using Gaia.Native;

namespace Gaia
{
    public sealed class GaiaException : Exception
    {
        public GaiaException(string code, int status, string message) : base(message)
        {
            Code = code;
            Status = status;
        }

        /// <summary>The stable snake_case code ("invalid_request", "not_found", ...).</summary>
        public string Code { get; private set; }

        /// <summary>The C ABI status number (1-13).</summary>
        public int Status { get; private set; }

        /// <summary>Reads a native error (it is not freed here).</summary>
        internal static unsafe GaiaException FromNative(int status, GaiaError* error)
        {
            if (error == null)
            {
                return new GaiaException("internal", status, "status " + status + " without an error object");
            }
            return new GaiaException(
                Utf8.ToString(NativeMethods.gaia_error_code(error)),
                NativeMethods.gaia_error_status(error),
                Utf8.ToString(NativeMethods.gaia_error_message(error)));
        }

        /// <summary>Throws for a failed call and frees the native error.</summary>
        internal static unsafe void Check(int status, GaiaError* error)
        {
            if (status == NativeMethods.GAIA_OK)
            {
                return;
            }
            var exception = FromNative(status, error);
            NativeMethods.gaia_error_free(error);
            throw exception;
        }
    }
}
