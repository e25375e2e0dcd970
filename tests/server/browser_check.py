"""Drives regionlm-server's page in headless Chromium (Debian's chromium + chromium-driver).

With SAM (`sam` mode): opens the page, loads the bundled scene, clicks at image pixel (X, Y),
waits for the SAM mask overlay, asks QUESTION, waits for the streamed answer, saves a
screenshot, then presses "Describe everything" and waits for the marks.

Without SAM (`nosam` mode): loads the scene, uploads the mask PNG MASK as region 1, drags a box
from image pixel (X, Y) to (X2, Y2) as region 2, asks QUESTION and waits for the answer.

Prints one JSON object with what the page showed; browser_test.cpp compares it with the library.

    browser_check.py sam URL X Y QUESTION SCREENSHOT_PREFIX
    browser_check.py nosam URL X Y X2 Y2 MASK QUESTION SCREENSHOT_PREFIX
"""
import json
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def start_browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1200,900", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def open_scene(driver, wait, url):
    driver.get(url)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    driver.find_element(By.ID, "scene-button").click()
    canvas = driver.find_element(By.ID, "canvas")
    wait.until(lambda d: canvas.get_attribute("data-image") == "loaded")
    return canvas


def offset(driver, canvas, x, y):
    """Image pixel (x, y) -> an offset from the canvas element's centre (Selenium 4)."""
    w, h, cw, ch = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return [r.width, r.height, arguments[0].width, arguments[0].height];", canvas)
    return round((x + 0.5) * w / cw - w / 2), round((y + 0.5) * h / ch - h / 2)


def ask(driver, wait, question):
    driver.find_element(By.ID, "question").send_keys(question)
    driver.find_element(By.ID, "ask").click()
    answer = driver.find_element(By.ID, "answer")
    wait.until(lambda d: answer.get_attribute("data-state") in ("done", "error"))
    return {"answer": answer.text, "answer_state": answer.get_attribute("data-state")}


def with_sam(driver, wait, args):
    url, x, y, question, screenshot = args[0], int(args[1]), int(args[2]), args[3], args[4]
    canvas = open_scene(driver, wait, url)
    ActionChains(driver).move_to_element_with_offset(canvas, *offset(driver, canvas, x, y)).click().perform()
    wait.until(lambda d: canvas.get_attribute("data-masks") == "1")
    result = driver.execute_script(
        "const r = window.regionlm.regions[0]; return {points: r.prompt.points, rle: r.spec.mask};")
    result.update(ask(driver, wait, question))
    driver.save_screenshot(screenshot + "-ask.png")

    driver.find_element(By.ID, "everything").click()
    wait.until(lambda d: canvas.get_attribute("data-marks") is not None or
               "failed" in d.find_element(By.ID, "status").text)
    result["marks"] = canvas.get_attribute("data-marks")
    result["mark_texts"] = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#marks li")]
    result["masks_drawn"] = canvas.get_attribute("data-masks")
    result["status"] = driver.find_element(By.ID, "status").text
    driver.save_screenshot(screenshot + "-everything.png")
    return result


def without_sam(driver, wait, args):
    url, x, y, x2, y2, mask, question, screenshot = args[0], *map(int, args[1:5]), args[5], args[6], args[7]
    canvas = open_scene(driver, wait, url)
    result = {"sam_status": driver.find_element(By.ID, "sam-status").text,
              "everything_enabled": driver.find_element(By.ID, "everything").is_enabled()}
    driver.find_element(By.ID, "mask-input").send_keys(mask)
    wait.until(lambda d: canvas.get_attribute("data-masks") == "1")
    dx, dy = offset(driver, canvas, x, y)
    ex, ey = offset(driver, canvas, x2, y2)
    chain = ActionChains(driver).move_to_element_with_offset(canvas, dx, dy).click_and_hold()
    for step in range(1, 5):  # a drag the page sees as one
        chain.move_to_element_with_offset(canvas, dx + (ex - dx) * step // 4, dy + (ey - dy) * step // 4)
    chain.release().perform()
    wait.until(lambda d: canvas.get_attribute("data-masks") == "2")
    result["regions"] = driver.execute_script("return window.regionlm.regions.map(r => r.spec);")
    # A click does nothing but explain itself.
    ActionChains(driver).move_to_element_with_offset(canvas, dx, dy).click().perform()
    result["click_status"] = driver.find_element(By.ID, "status").text
    result.update(ask(driver, wait, question))
    driver.save_screenshot(screenshot + "-nosam.png")
    return result


def main():
    driver = start_browser()
    wait = WebDriverWait(driver, 60)
    try:
        result = (with_sam if sys.argv[1] == "sam" else without_sam)(driver, wait, sys.argv[2:])
        print(json.dumps(result))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
