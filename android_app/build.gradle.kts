// Plugin versions, exact. Kotlin is the version package.json pins for kotlin-compiler, the
// compiler tests/test_android_app.py compiles the core with (the test checks they agree).
plugins {
    id("com.android.application") version "8.13.0" apply false
    kotlin("android") version "2.3.21" apply false
    kotlin("jvm") version "2.3.21" apply false
}
