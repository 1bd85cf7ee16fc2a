// Marks the static methods native code calls back into. IL2CPP (Unity's
// ahead-of-time compiler) matches this attribute by name and generates a
// native entry point for each marked method; Mono and .NET ignore it.
using System;

namespace Gaia
{
    [AttributeUsage(AttributeTargets.Method)]
    public sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type delegateType)
        {
            DelegateType = delegateType;
        }

        public Type DelegateType { get; private set; }
    }
}
